using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>The Teams page's quota and policy form: memory in MiB, empty fields for no limit, runtime types as switches.</summary>
public sealed class TeamLimitsForm
{
    private const long MiB = 1024 * 1024;

    public int? Containers { get; set; }
    public int? VmContainers { get; set; }
    public double? Cpus { get; set; }
    public long? MemoryMiB { get; set; }
    public double? DefaultCpus { get; set; }
    public long? DefaultMemoryMiB { get; set; }
    public double? MaxCpus { get; set; }
    public long? MaxMemoryMiB { get; set; }

    /// <summary>Process isolation (Default) allowed; with <see cref="AllowHyperV"/> both off, both are allowed (no restriction).</summary>
    public bool AllowProcess { get; set; }
    public bool AllowHyperV { get; set; }
    public RuntimeType? DefaultRuntimeType { get; set; }
    public PolicyMode Mode { get; set; } = PolicyMode.Enforce;
    public bool AllowPrivileged { get; set; }

    public static TeamLimitsForm From(TeamInfo team) => new()
    {
        Containers = team.Quota.Containers,
        VmContainers = team.Quota.VmContainers,
        Cpus = team.Quota.Cpus,
        MemoryMiB = ToMiB(team.Quota.MemoryBytes),
        DefaultCpus = team.Quota.Limits.DefaultCpus,
        DefaultMemoryMiB = ToMiB(team.Quota.Limits.DefaultMemoryBytes),
        MaxCpus = team.Quota.Limits.MaxCpus,
        MaxMemoryMiB = ToMiB(team.Quota.Limits.MaxMemoryBytes),
        AllowProcess = team.Policy.AllowedRuntimeTypes.Contains(RuntimeType.Default),
        AllowHyperV = team.Policy.AllowedRuntimeTypes.Contains(RuntimeType.HyperV),
        DefaultRuntimeType = team.Policy.DefaultRuntimeType,
        Mode = team.Policy.Mode,
        AllowPrivileged = team.Policy.AllowPrivileged,
    };

    public TeamQuota Quota => new()
    {
        Containers = Containers,
        VmContainers = VmContainers,
        Cpus = Cpus,
        MemoryBytes = MemoryMiB * MiB,
        Limits = new LimitRange
        {
            DefaultCpus = DefaultCpus,
            DefaultMemoryBytes = DefaultMemoryMiB * MiB,
            MaxCpus = MaxCpus,
            MaxMemoryBytes = MaxMemoryMiB * MiB,
        },
    };

    public IsolationPolicy Policy => new()
    {
        AllowedRuntimeTypes = [.. AllowProcess ? [RuntimeType.Default] : Array.Empty<RuntimeType>(), .. AllowHyperV ? [RuntimeType.HyperV] : Array.Empty<RuntimeType>()],
        DefaultRuntimeType = DefaultRuntimeType,
        Mode = Mode,
        AllowPrivileged = AllowPrivileged,
    };

    private static long? ToMiB(long? bytes) => bytes / MiB;
}
