namespace Portal.Contracts;

/// <summary>A role in a team, narrowest first: each role may do what the ones before it may.</summary>
public enum TeamRole
{
    /// <summary>Reads the team's containers and their logs.</summary>
    Viewer,

    /// <summary>As Viewer, plus start, stop, restart, kill and terminals (exec, attach); no create, convert or remove.</summary>
    Operator,

    /// <summary>As Operator, plus create, convert and remove the team's containers.</summary>
    Member,

    /// <summary>As Member, plus the team's membership.</summary>
    Owner,
}

public sealed record TeamMember
{
    /// <summary>The user's name as the portal knows it (a local account or an identity provider's subject).</summary>
    public required string User { get; init; }

    public required TeamRole Role { get; init; }
}

/// <summary>A team as the agent holds it: its name (the key; lower-case letters, digits, '-', '_', '.') and its members.</summary>
public sealed record TeamInfo
{
    public string Name { get; init; } = "";

    public IReadOnlyList<TeamMember> Members { get; init; } = [];
}
