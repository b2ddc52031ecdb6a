using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Compute.Tests.Teams;

/// <summary>The quota arithmetic: LimitRange defaults and maxima, what a container is charged (VM: guest memory plus the worker's overhead), and refusals naming the quota, its limit and the use. Unit tier.</summary>
public sealed class TeamQuotasTests
{
    private const long MiB = 1L << 20;
    private static readonly VmMemoryCharge Vm = new();

    [Fact]
    public void A_container_without_limits_gets_the_LimitRange_defaults_and_one_above_a_maximum_is_refused()
    {
        var quota = new TeamQuota { Limits = new LimitRange { DefaultCpus = 0.5, DefaultMemoryBytes = 64 * MiB, MaxCpus = 2, MaxMemoryBytes = 512 * MiB } };

        var (limits, refusal) = TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { PidsLimit = 50 }, Vm);
        Assert.Null(refusal);
        Assert.Equal((0.5, 64 * MiB, 50L), (limits.Cpus, limits.MemoryBytes, limits.PidsLimit));

        // What the caller gave is kept.
        (limits, _) = TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { Cpus = 1.5, MemoryBytes = 100 * MiB }, Vm);
        Assert.Equal((1.5, 100 * MiB), (limits.Cpus!.Value, limits.MemoryBytes!.Value));

        var cpus = TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { Cpus = 3 }, Vm).Refusal;
        Assert.Equal(TeamQuotas.MaxCpus, cpus!.Quota);
        Assert.Equal("Team 'blue' may give each container at most 2 CPUs, and this container asks for 3; ask for at most 2 or ask an administrator to raise the maximum (quota: limits.max-cpus).", cpus.Message);

        var memory = TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { MemoryBytes = 1L << 30 }, Vm).Refusal;
        Assert.Equal(TeamQuotas.MaxMemory, memory!.Quota);
        Assert.Contains("at most 512 MiB of memory, and this container asks for 1 GiB", memory.Message, StringComparison.Ordinal);

        // A VM-isolated container's memory is its guest RAM: without a limit or default, the host's default guest size.
        var vmQuota = new TeamQuota { Limits = new LimitRange { MaxMemoryBytes = 200 * MiB } };
        var guest = TeamQuotas.ApplyLimitRange("blue", vmQuota, RuntimeType.HyperV, new ContainerLimits(), Vm).Refusal;
        Assert.Contains("asks for 256 MiB of guest memory", guest!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_quota_on_CPU_or_memory_needs_a_limit_on_each_process_isolated_container_but_a_VM_always_has_both()
    {
        var quota = new TeamQuota { Cpus = 4, MemoryBytes = 1L << 30 };
        Assert.Equal(TeamQuotas.Cpus, TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { MemoryBytes = 64 * MiB }, Vm).Refusal!.Quota);
        var memory = TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.Default, new ContainerLimits { Cpus = 1 }, Vm).Refusal;
        Assert.Equal(TeamQuotas.Memory, memory!.Quota);
        Assert.Contains("needs a memory limit", memory.Message, StringComparison.Ordinal);
        Assert.Null(TeamQuotas.ApplyLimitRange("blue", quota, RuntimeType.HyperV, new ContainerLimits(), Vm).Refusal);
    }

    [Fact]
    public void A_VM_isolated_container_is_charged_its_guest_memory_plus_the_worker_overhead_and_one_CPU_without_a_limit()
    {
        // Defaults: 256 MiB guest RAM without a limit, at least 128 MiB, in whole MiB; 128 MiB worker overhead.
        Assert.Equal(new QuotaCharge(1, 1, 1, 384 * MiB), TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits(), Vm));
        Assert.Equal(new QuotaCharge(1, 1, 2, 256 * MiB), TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits { Cpus = 2, MemoryBytes = 64 * MiB }, Vm));
        Assert.Equal(new QuotaCharge(1, 1, 1, 641 * MiB), TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits { MemoryBytes = 512 * MiB + 1 }, Vm));
        Assert.Equal(new QuotaCharge(1, 0, 0, 64 * MiB), TeamQuotas.ChargeOf(RuntimeType.Default, new ContainerLimits { MemoryBytes = 64 * MiB }, Vm));

        // Under TCG the translation cache is part of the worker's overhead too.
        var tcg = VmMemoryCharge.For(new ComputeOptions(), "tcg");
        Assert.Equal((128 + 32) * MiB, tcg.OverheadBytes);
        Assert.Equal(128 * MiB, VmMemoryCharge.For(new ComputeOptions(), "kvm").OverheadBytes);
        Assert.Equal((256 + 160) * MiB, TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits(), tcg).MemoryBytes);
    }

    [Fact]
    public void A_refusal_names_the_quota_its_limit_and_the_current_use()
    {
        var quota = new TeamQuota { Containers = 3, VmContainers = 1, Cpus = 2, MemoryBytes = 1L << 30 };
        var one = new QuotaCharge(1, 0, 0.5, 100 * MiB);

        var full = TeamQuotas.Check("blue", quota, new QuotaCharge(3, 0, 0, 0), one, Vm, RuntimeType.Default);
        Assert.Equal(new QuotaRefusal(TeamQuotas.Containers,
            "Team 'blue' may run 3 containers on this host and has 3; remove one or ask an administrator to raise the quota (quota: containers)."), full);

        var vm = TeamQuotas.Check("blue", quota, new QuotaCharge(1, 1, 1, 384 * MiB), TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits(), Vm), Vm, RuntimeType.HyperV);
        Assert.Equal(TeamQuotas.VmContainers, vm!.Quota);
        Assert.StartsWith("Team 'blue' may run 1 VM-isolated container on this host and has 1;", vm.Message, StringComparison.Ordinal);

        var cpus = TeamQuotas.Check("blue", quota, new QuotaCharge(1, 0, 1.75, 0), one, Vm, RuntimeType.Default);
        Assert.Equal("Team 'blue' may use 2 CPUs on this host and its containers have 1.75; this one needs 0.5 more. Give it a lower CPU limit, remove a container or ask an administrator to raise the quota (quota: cpus).", cpus!.Message);

        var memory = TeamQuotas.Check("blue", quota, new QuotaCharge(1, 0, 0, 768 * MiB), TeamQuotas.ChargeOf(RuntimeType.HyperV, new ContainerLimits { Cpus = 0.5 }, Vm), Vm, RuntimeType.HyperV);
        Assert.Equal(TeamQuotas.Memory, memory!.Quota);
        Assert.Contains("may use 1 GiB of memory on this host and its containers have 768 MiB; this one needs 384 MiB more (VM isolation: guest memory plus 128 MiB of VM worker overhead)", memory.Message, StringComparison.Ordinal);

        // Exactly at the limit fits; unlimited quotas never refuse.
        Assert.Null(TeamQuotas.Check("blue", quota, new QuotaCharge(2, 0, 1.5, 924 * MiB), one, Vm, RuntimeType.Default));
        Assert.Null(TeamQuotas.Check("blue", new TeamQuota(), new QuotaCharge(1000, 1000, 1000, 1L << 40), one, Vm, RuntimeType.Default));
    }

    [Fact]
    public void A_conversion_is_checked_on_what_it_adds_only()
    {
        var quota = new TeamQuota { Containers = 2, VmContainers = 1, MemoryBytes = 512 * MiB };
        var process = new ContainerLimits { MemoryBytes = 64 * MiB };
        var toVm = TeamQuotas.ChargeOf(RuntimeType.HyperV, process, Vm) - TeamQuotas.ChargeOf(RuntimeType.Default, process, Vm);
        Assert.Equal(new QuotaCharge(0, 1, 1, 192 * MiB), toVm);

        // Two containers is the limit, yet the conversion adds none; it needs the VM slot and 192 MiB more.
        Assert.Null(TeamQuotas.Check("blue", quota, new QuotaCharge(2, 0, 0, 128 * MiB), toVm, Vm, RuntimeType.HyperV));
        Assert.Equal(TeamQuotas.VmContainers, TeamQuotas.Check("blue", quota, new QuotaCharge(2, 1, 1, 320 * MiB), toVm, Vm, RuntimeType.HyperV)!.Quota);
        Assert.Equal(TeamQuotas.Memory, TeamQuotas.Check("blue", quota, new QuotaCharge(2, 0, 0, 400 * MiB), toVm, Vm, RuntimeType.HyperV)!.Quota);

        // Back to process isolation frees memory: a team over its quota may still do it.
        var toProcess = TeamQuotas.ChargeOf(RuntimeType.Default, process, Vm) - TeamQuotas.ChargeOf(RuntimeType.HyperV, process, Vm);
        Assert.Null(TeamQuotas.Check("blue", quota, new QuotaCharge(5, 5, 5, 5L << 30), toProcess, Vm, RuntimeType.Default));
    }
}
