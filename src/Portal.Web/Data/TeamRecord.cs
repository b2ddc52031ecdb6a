using Portal.Contracts;

namespace Portal.Web.Data;

/// <summary>
/// A team as the portal keeps it and pushes it to every agent: its name (the agent's rules, <see cref="Teams.TeamNames"/>),
/// its members, and its quota and isolation policy as the agent's JSON (<see cref="TeamQuota"/>, <see cref="IsolationPolicy"/>).
/// </summary>
public sealed class TeamRecord
{
    public required string Name { get; set; }

    /// <summary><see cref="TeamQuota"/> as JSON.</summary>
    public string Quota { get; set; } = "{}";

    /// <summary><see cref="IsolationPolicy"/> as JSON.</summary>
    public string Policy { get; set; } = "{}";

    public DateTimeOffset CreatedAt { get; set; }

    public List<TeamMemberRecord> Members { get; set; } = [];
}

/// <summary>A portal user's role in a team.</summary>
public sealed class TeamMemberRecord
{
    public required string TeamName { get; set; }

    /// <summary>The portal user's name, which is the name the agents know the member by.</summary>
    public required string UserName { get; set; }

    public TeamRole Role { get; set; }
}
