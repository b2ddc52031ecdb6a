using System.Globalization;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>What one container takes of its team's quota on a host.</summary>
public readonly record struct QuotaCharge(int Containers, int VmContainers, double Cpus, long MemoryBytes)
{
    // Memory sums saturate: a limit near long.MaxValue (the store takes any limit of 6 MiB or more) must not wrap a
    // team's use around to a negative figure that every later check passes.
    public static QuotaCharge operator +(QuotaCharge a, QuotaCharge b) =>
        new(a.Containers + b.Containers, a.VmContainers + b.VmContainers, a.Cpus + b.Cpus, AddBytes(a.MemoryBytes, b.MemoryBytes));

    public static QuotaCharge operator -(QuotaCharge a, QuotaCharge b) =>
        new(a.Containers - b.Containers, a.VmContainers - b.VmContainers, a.Cpus - b.Cpus, Saturate((Int128)a.MemoryBytes - b.MemoryBytes));

    /// <summary>a + b, held to long's range instead of wrapping.</summary>
    public static long AddBytes(long a, long b) => Saturate((Int128)a + b);

    private static long Saturate(Int128 value) => value > long.MaxValue ? long.MaxValue : value < long.MinValue ? long.MinValue : (long)value;

    /// <summary>Only what grows: a conversion that frees memory but takes a VM slot is checked on the slot alone.</summary>
    public QuotaCharge Growth => new(Math.Max(0, Containers), Math.Max(0, VmContainers), Math.Max(0, Cpus), Math.Max(0, MemoryBytes));
}

/// <summary>
/// How a VM-isolated container is charged memory: its guest RAM (sized as the VM driver sizes it: the memory limit,
/// else <see cref="DefaultGuestBytes"/>, at least <see cref="MinimumGuestBytes"/>) plus the worker's overhead, the
/// host memory its VM cgroup lets the worker use beyond guest RAM (<see cref="VmOptions.WorkerOverheadBytes"/>, plus
/// TCG's translation cache on a host without KVM). The quota so bounds what the host can be made to give the team.
/// </summary>
public sealed record VmMemoryCharge
{
    public long DefaultGuestBytes { get; init; } = 256L << 20;
    public long MinimumGuestBytes { get; init; } = VmOptions.DefaultMinimumMemoryBytes;
    public long WorkerOverheadBytes { get; init; } = VmOptions.DefaultWorkerOverheadBytes;

    /// <summary>The translation cache, charged when the host's guests run under TCG (no KVM).</summary>
    public long TcgTranslationCacheBytes { get; init; }

    public long OverheadBytes => WorkerOverheadBytes + TcgTranslationCacheBytes;

    public long GuestBytes(ContainerLimits limits) => VmOptions.GuestMemoryBytes(limits.MemoryBytes, DefaultGuestBytes, MinimumGuestBytes);

    /// <summary>The charge for a host of these options whose VM accelerator is <paramref name="accelerator"/> ("kvm", "tcg", or null without VM isolation).</summary>
    public static VmMemoryCharge For(ComputeOptions options, string? accelerator) => new()
    {
        DefaultGuestBytes = options.VmDefaultMemoryBytes,
        WorkerOverheadBytes = options.VmWorkerOverheadBytes,
        TcgTranslationCacheBytes = accelerator == "tcg" ? (long)options.VmTcgTranslationCacheMiB << 20 : 0,
    };
}

/// <summary>A quota's refusal: which quota (its name in docs/teams.md) and the words for the caller.</summary>
public sealed record QuotaRefusal(string Quota, string Message);

/// <summary>
/// The quota arithmetic of teams, pure: LimitRange defaults and maxima per container, what a container is charged,
/// and whether a charge fits beside what the team uses. <see cref="TeamQuotaLedger"/> applies it atomically.
/// </summary>
public static class TeamQuotas
{
    public const string Containers = "containers";
    public const string VmContainers = "vm-containers";
    public const string Cpus = "cpus";
    public const string Memory = "memory";
    public const string MaxCpus = "limits.max-cpus";
    public const string MaxMemory = "limits.max-memory";

    /// <summary>A VM-isolated container without a CPU limit has one vCPU, so it is charged one CPU.</summary>
    public const double VmCpusWithoutLimit = 1;

    /// <summary>
    /// The container's limits with the team's LimitRange applied: a missing CPU or memory limit gets the default; a
    /// limit above the maximum is refused, and so is no limit where a maximum (or a CPU or memory quota) needs one
    /// (a VM-isolated container's memory is its guest RAM and its CPUs its vCPUs, so it always has both).
    /// </summary>
    /// <remarks>
    /// A <paramref name="conversion"/> keeps the container's record as it is, so it gets no defaults: converted to process
    /// isolation, a container without its own limit (a VM is bounded by its guest RAM and vCPUs) would run unlimited and
    /// be charged nothing, and is refused where the team needs a limit.
    /// </remarks>
    public static (ContainerLimits Limits, QuotaRefusal? Refusal) ApplyLimitRange(string team, TeamQuota quota, RuntimeType runtimeType, ContainerLimits limits, VmMemoryCharge vm,
        bool conversion = false)
    {
        var range = conversion ? quota.Limits with { DefaultCpus = null, DefaultMemoryBytes = null } : quota.Limits;
        var applied = limits with
        {
            Cpus = limits.Cpus ?? range.DefaultCpus,
            MemoryBytes = limits.MemoryBytes ?? range.DefaultMemoryBytes,
        };
        var isVm = runtimeType == RuntimeType.HyperV;
        double? cpus = applied.Cpus ?? (isVm ? VmCpusWithoutLimit : null);
        long? memory = isVm ? vm.GuestBytes(applied) : applied.MemoryBytes;

        if (range.MaxCpus is { } maxCpus && (cpus is null || cpus > maxCpus))
        {
            return (applied, new QuotaRefusal(MaxCpus, cpus is null
                ? $"Team '{team}' may give each container at most {Number(maxCpus)} CPUs, and this container has no CPU limit; {GiveLimit(conversion, $"one of at most {Number(maxCpus)} (--cpus, Limits.Cpus)")} (quota: {MaxCpus})."
                : $"Team '{team}' may give each container at most {Number(maxCpus)} CPUs, and this container asks for {Number(cpus.Value)}; ask for at most {Number(maxCpus)} or ask an administrator to raise the maximum (quota: {MaxCpus})."));
        }

        if (range.MaxMemoryBytes is { } maxMemory && (memory is null || memory > maxMemory))
        {
            return (applied, new QuotaRefusal(MaxMemory, memory is null
                ? $"Team '{team}' may give each container at most {Bytes(maxMemory)} of memory, and this container has no memory limit; {GiveLimit(conversion, $"one of at most {Bytes(maxMemory)} (--memory, Limits.MemoryBytes)")} (quota: {MaxMemory})."
                : $"Team '{team}' may give each container at most {Bytes(maxMemory)} of memory, and this container asks for {Bytes(memory.Value)}{(isVm ? " of guest memory" : "")}; ask for at most {Bytes(maxMemory)} or ask an administrator to raise the maximum (quota: {MaxMemory})."));
        }

        if (quota.Cpus is not null && cpus is null)
        {
            return (applied, new QuotaRefusal(Cpus,
                conversion
                    ? $"Team '{team}' has a CPU quota on this host, so each of its process-isolated containers needs a CPU limit, and this container has no CPU limit; {GiveLimit(true, "")} (quota: {Cpus})."
                    : $"Team '{team}' has a CPU quota on this host, so each of its containers needs a CPU limit; give this one a limit (--cpus, Limits.Cpus) or ask an administrator to set a default (quota: {Cpus})."));
        }

        if (quota.MemoryBytes is not null && memory is null)
        {
            return (applied, new QuotaRefusal(Memory,
                conversion
                    ? $"Team '{team}' has a memory quota on this host, so each of its process-isolated containers needs a memory limit, and this container has no memory limit; {GiveLimit(true, "")} (quota: {Memory})."
                    : $"Team '{team}' has a memory quota on this host, so each of its containers needs a memory limit; give this one a limit (--memory, Limits.MemoryBytes) or ask an administrator to set a default (quota: {Memory})."));
        }

        return (applied, null);
    }

    private static string GiveLimit(bool conversion, string which) => conversion
        ? "a conversion cannot add one: create the container again with a limit, or keep it as it is"
        : $"give it {which}";

    /// <summary>What a container of this runtime type and these limits takes: VM-isolated ones their guest RAM plus the worker's overhead.</summary>
    public static QuotaCharge ChargeOf(RuntimeType runtimeType, ContainerLimits limits, VmMemoryCharge vm) => runtimeType == RuntimeType.HyperV
        ? new QuotaCharge(1, 1, limits.Cpus ?? VmCpusWithoutLimit, QuotaCharge.AddBytes(vm.GuestBytes(limits), vm.OverheadBytes))
        : new QuotaCharge(1, 0, limits.Cpus ?? 0, limits.MemoryBytes ?? 0);

    public static QuotaCharge ChargeOf(ContainerInfo container, VmMemoryCharge vm) => ChargeOf(container.RuntimeType, container.Limits, vm);

    /// <summary>What the containers take together.</summary>
    public static QuotaCharge Sum(IEnumerable<ContainerInfo> containers, VmMemoryCharge vm) =>
        containers.Aggregate(default(QuotaCharge), (sum, c) => sum + ChargeOf(c, vm));

    /// <summary>
    /// Null when <paramref name="request"/> fits beside <paramref name="used"/>; else the first quota it would pass,
    /// naming its limit and the use. Only what the request adds is checked, so a team over a quota an administrator
    /// lowered may still remove containers or convert them to something smaller.
    /// </summary>
    public static QuotaRefusal? Check(string team, TeamQuota quota, QuotaCharge used, QuotaCharge request, VmMemoryCharge vm, RuntimeType runtimeType)
    {
        var add = request.Growth;
        if (add.Containers > 0 && quota.Containers is { } containers && used.Containers + add.Containers > containers)
        {
            return new QuotaRefusal(Containers,
                $"Team '{team}' may run {Count(containers, "container")} on this host and has {used.Containers}; remove one or ask an administrator to raise the quota (quota: {Containers}).");
        }

        if (add.VmContainers > 0 && quota.VmContainers is { } vms && used.VmContainers + add.VmContainers > vms)
        {
            return new QuotaRefusal(VmContainers,
                $"Team '{team}' may run {Count(vms, "VM-isolated container")} on this host and has {used.VmContainers}; remove one, use process isolation where the team's policy allows it, or ask an administrator to raise the quota (quota: {VmContainers}).");
        }

        if (add.Cpus > 0 && quota.Cpus is { } cpus && used.Cpus + add.Cpus > cpus + 1e-9)
        {
            return new QuotaRefusal(Cpus,
                $"Team '{team}' may use {Number(cpus)} CPUs on this host and its containers have {Number(used.Cpus)}; this one needs {Number(add.Cpus)} more. Give it a lower CPU limit, remove a container or ask an administrator to raise the quota (quota: {Cpus}).");
        }

        if (add.MemoryBytes > 0 && quota.MemoryBytes is { } memory && QuotaCharge.AddBytes(used.MemoryBytes, add.MemoryBytes) > memory)
        {
            var what = runtimeType == RuntimeType.HyperV
                ? $"{Bytes(add.MemoryBytes)} more (VM isolation: guest memory plus {Bytes(vm.OverheadBytes)} of VM worker overhead)"
                : $"{Bytes(add.MemoryBytes)} more";
            return new QuotaRefusal(Memory,
                $"Team '{team}' may use {Bytes(memory)} of memory on this host and its containers have {Bytes(used.MemoryBytes)}; this one needs {what}. Give it a lower memory limit, remove a container or ask an administrator to raise the quota (quota: {Memory}).");
        }

        return null;
    }

    /// <summary>Bytes for people: "256 MiB", "1.5 GiB".</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 || bytes >= 10L << 30 => $"{Number(bytes / (double)(1L << 30))} GiB",
        >= 1L << 30 => $"{Number(Math.Round(bytes / (double)(1L << 30), 2))} GiB",
        >= 1L << 20 => $"{Number(Math.Round(bytes / (double)(1L << 20), 1))} MiB",
        _ => $"{bytes} bytes",
    };

    private static string Number(double value) => Math.Round(value, 3).ToString("0.###", CultureInfo.InvariantCulture);

    private static string Count(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";
}
