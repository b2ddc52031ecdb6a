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

    /// <summary>The team's limits on this host; every field null means unlimited.</summary>
    public TeamQuota Quota { get; init; } = new();

    /// <summary>Which isolation the team's containers may use and what a team may loosen.</summary>
    public IsolationPolicy Policy { get; init; } = new();
}

/// <summary>
/// A team's limits on one host (the portal pushes a host group's quota to each host of the group). VM-isolated
/// containers are charged their guest memory plus the VM worker's overhead. Reserved atomically at create.
/// </summary>
public sealed record TeamQuota
{
    /// <summary>Containers of the team on the host, in any state.</summary>
    public int? Containers { get; init; }

    /// <summary>VM-isolated (HyperV) containers of the team on the host.</summary>
    public int? VmContainers { get; init; }

    /// <summary>The sum of the containers' CPU limits.</summary>
    public double? Cpus { get; init; }

    /// <summary>The sum of the containers' memory (limit, or guest memory plus overhead when VM-isolated).</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>Per-container defaults and maxima (Kubernetes LimitRange); a container without limits gets the defaults.</summary>
    public LimitRange Limits { get; init; } = new();
}

/// <summary>Per-container CPU and memory: the default a container without a limit gets, and the most it may ask.</summary>
public sealed record LimitRange
{
    public double? DefaultCpus { get; init; }
    public long? DefaultMemoryBytes { get; init; }
    public double? MaxCpus { get; init; }
    public long? MaxMemoryBytes { get; init; }
}

/// <summary>What the policy does with a request it does not allow (Kubernetes Pod Security Admission's modes).</summary>
public enum PolicyMode
{
    /// <summary>Refuses it, naming the rule.</summary>
    Enforce,

    /// <summary>Lets it run and tells the caller (a warning in the answer) and the audit trail.</summary>
    Warn,

    /// <summary>Lets it run and records it in the audit trail only.</summary>
    Audit,
}

/// <summary>A team's isolation policy: allowed runtime types, the default, the mode, and whether it may loosen security.</summary>
public sealed record IsolationPolicy
{
    /// <summary>The runtime types the team's containers may use (created or converted to); empty allows both.</summary>
    public IReadOnlyList<RuntimeType> AllowedRuntimeTypes { get; init; } = [];

    /// <summary>The runtime type a create without one gets; null takes the host's default (if allowed).</summary>
    public RuntimeType? DefaultRuntimeType { get; init; }

    public PolicyMode Mode { get; init; } = PolicyMode.Enforce;

    /// <summary>Privileged options (added capabilities, loosened security options): refused for the team unless true.</summary>
    public bool AllowPrivileged { get; init; }
}

/// <summary>What a team uses on a host now, against its <see cref="TeamQuota"/>.</summary>
public sealed record TeamUsage
{
    public required string Team { get; init; }
    public int Containers { get; init; }
    public int VmContainers { get; init; }
    public double Cpus { get; init; }
    public long MemoryBytes { get; init; }
    public required TeamQuota Quota { get; init; }
}
