using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Compute.Tests.Teams;

/// <summary>
/// Quotas and the isolation policy in the one enforcement path, over a fake host: LimitRange defaults, quota refusals
/// naming the quota, the policy's default runtime type, its Enforce, Warn and Audit modes for creates and conversions,
/// privileged options, and each decision in the audit trail. Unit tier.
/// </summary>
public sealed class TeamQuotaEnforcementTests : IDisposable
{
    private const long MiB = 1L << 20;
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-teams-quota-").FullName;
    private readonly AuditLog _log;
    private readonly FakeComputeHost _fake = new();
    private readonly TeamStore _teams;
    private readonly TeamQuotaLedger _ledger;
    private readonly TeamScopedComputeHost _host;

    public TeamQuotaEnforcementTests()
    {
        _log = new AuditLog(new AuditLogOptions(), Path.Combine(_directory, "audit"));
        var trail = new AuditTrail(_log, "h", NullLogger<AuditTrail>.Instance);
        _teams = new TeamStore(_directory);
        _ledger = new TeamQuotaLedger(() => _fake.Containers.ListContainers(), () => new VmMemoryCharge());
        _host = new TeamScopedComputeHost(new AuditedComputeHost(_fake, trail), trail, _teams, _ledger);
    }

    public void Dispose()
    {
        AuditCaller.Current = null;
        _log.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task TeamAsync(TeamQuota? quota = null, IsolationPolicy? policy = null) =>
        await _teams.PutAsync(new TeamInfo { Name = "blue", Quota = quota ?? new TeamQuota(), Policy = policy ?? new IsolationPolicy() });

    private static void ActAsBlue() => AuditCaller.Current = new AuditCaller
    {
        Actor = new AuditActor { Kind = AuditActorKind.ApiKey, Name = "key blue" },
        EntryPoint = AuditEntryPoint.Rest,
        Team = "blue",
        Role = TeamRole.Member,
    };

    private static ContainerCreateSpec Spec(string? name, RuntimeType? runtimeType = null, ContainerLimits? limits = null) =>
        new() { Name = name, Image = "busybox:latest", RuntimeType = runtimeType, Limits = limits ?? new ContainerLimits() };

    private IReadOnlyList<AuditEntry> Entries(AuditDecision decision) => _log.Read(new AuditQuery { Decision = decision }).Entries;

    [Fact]
    public async Task Creates_past_the_quota_are_refused_naming_it_and_recorded_and_the_administrators_are_not_counted()
    {
        await TeamAsync(new TeamQuota { Containers = 2 });
        AuditCaller.Current = null;
        await _host.Containers.CreateContainerAsync(Spec("admins"));
        ActAsBlue();
        await _host.Containers.CreateContainerAsync(Spec("one"));
        await _host.Containers.CreateContainerAsync(Spec(null));

        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("three")));
        Assert.Equal(ComputeErrorCode.QuotaExceeded, refused.Code);
        Assert.Equal("Team 'blue' may run 2 containers on this host and has 2; remove one or ask an administrator to raise the quota (quota: containers).", refused.Message);
        var denied = Assert.Single(Entries(AuditDecision.Denied));
        Assert.Equal((AuditActions.ContainerCreate, TeamRules.QuotaRule, "containers", "three", AuditResult.NotRun),
            (denied.Action, denied.Rule, denied.Details!["quota"], denied.Target!.Name, denied.Result));

        Assert.Equal((2, 0), (_ledger.Usage(_teams.Get("blue")).Containers, _ledger.Usage(_teams.Get("blue")).VmContainers));
        await _host.Containers.RemoveContainerAsync("one", force: true);
        await _host.Containers.CreateContainerAsync(Spec("three"));
    }

    [Fact]
    public async Task Concurrent_creates_take_exactly_the_quota()
    {
        await TeamAsync(new TeamQuota { Containers = 5 });
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            ActAsBlue();
            try
            {
                await _host.Containers.CreateContainerAsync(Spec($"c{i}"));
                return null;
            }
            catch (ComputeException e)
            {
                return e;
            }
        })));

        Assert.Equal(5, results.Count(r => r is null));
        Assert.All(results.OfType<ComputeException>(), e => Assert.Equal(ComputeErrorCode.QuotaExceeded, e.Code));
        Assert.Equal(5, _fake.Containers.ListContainers().Count);
    }

    [Fact]
    public async Task LimitRange_defaults_are_applied_and_a_VM_is_charged_its_guest_memory_and_the_worker_overhead()
    {
        await TeamAsync(new TeamQuota { MemoryBytes = 600 * MiB, Limits = new LimitRange { DefaultCpus = 0.5, DefaultMemoryBytes = 64 * MiB, MaxMemoryBytes = 256 * MiB } });
        ActAsBlue();
        var process = await _host.Containers.CreateContainerAsync(Spec("p"));
        Assert.Equal((0.5, 64 * MiB), (process.Limits.Cpus!.Value, process.Limits.MemoryBytes!.Value));

        var tooBig = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("big", limits: new ContainerLimits { MemoryBytes = 300 * MiB })));
        Assert.Contains("(quota: limits.max-memory)", tooBig.Message, StringComparison.Ordinal);

        // 64 MiB (the default) is guest RAM 128 MiB (the smallest guest) + 128 MiB overhead: 256 MiB; twice fits beside 64 MiB, thrice not.
        await _host.Containers.CreateContainerAsync(Spec("vm1", RuntimeType.HyperV));
        await _host.Containers.CreateContainerAsync(Spec("vm2", RuntimeType.HyperV));
        Assert.Equal(576 * MiB, _ledger.Usage(_teams.Get("blue")).MemoryBytes);
        var vm3 = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("vm3", RuntimeType.HyperV)));
        Assert.Contains("may use 600 MiB of memory on this host and its containers have 576 MiB; this one needs 256 MiB more (VM isolation", vm3.Message, StringComparison.Ordinal);
        Assert.Equal(["limits.max-memory", "memory"], Entries(AuditDecision.Denied).Select(e => e.Details!["quota"]));
    }

    [Fact]
    public async Task A_HyperV_only_team_gets_HyperV_by_default_and_is_refused_process_isolation_and_conversions_to_it()
    {
        await TeamAsync(new TeamQuota { VmContainers = 1 }, new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV] });
        ActAsBlue();
        var vm = await _host.Containers.CreateContainerAsync(Spec("vm"));
        Assert.Equal(RuntimeType.HyperV, vm.RuntimeType);

        var create = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("proc", RuntimeType.Default)));
        Assert.Equal(ComputeErrorCode.Forbidden, create.Code);
        Assert.Contains("may use VM isolation (HyperV) only", create.Message, StringComparison.Ordinal);
        Assert.Contains("(rule: team-isolation-policy)", create.Message, StringComparison.Ordinal);
        var convert = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.ConvertContainerAsync("vm", RuntimeType.Default));
        Assert.Equal(ComputeErrorCode.Forbidden, convert.Code);
        Assert.Equal(RuntimeType.HyperV, _fake.Containers.GetContainer("vm").RuntimeType);

        // The VM slot is taken: a second VM-isolated container is over the quota.
        var second = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("vm2")));
        Assert.Equal(ComputeErrorCode.QuotaExceeded, second.Code);

        var denied = Entries(AuditDecision.Denied);
        Assert.Equal([(AuditActions.ContainerCreate, TeamRules.IsolationPolicyRule), (AuditActions.ContainerConvert, TeamRules.IsolationPolicyRule), (AuditActions.ContainerCreate, TeamRules.QuotaRule)],
            denied.Select(e => (e.Action, e.Rule!)));
        Assert.Equal((RuntimeType.Default, RuntimeType.Default), (denied[0].RequestedIsolation, denied[0].EffectiveIsolation));
        Assert.Equal("vm", denied[1].Target!.Name);
    }

    [Fact]
    public async Task A_conversion_to_HyperV_needs_a_VM_slot()
    {
        await TeamAsync(new TeamQuota { VmContainers = 1 });
        ActAsBlue();
        await _host.Containers.CreateContainerAsync(Spec("a", RuntimeType.Default));
        await _host.Containers.CreateContainerAsync(Spec("b", RuntimeType.Default));
        await _host.Containers.ConvertContainerAsync("a", RuntimeType.HyperV);
        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.ConvertContainerAsync("b", RuntimeType.HyperV));
        Assert.Contains("(quota: vm-containers)", refused.Message, StringComparison.Ordinal);
        await _host.Containers.ConvertContainerAsync("a", RuntimeType.Default);
        await _host.Containers.ConvertContainerAsync("b", RuntimeType.HyperV);
    }

    [Fact]
    public async Task Huge_memory_limits_do_not_wrap_the_quota_arithmetic_around()
    {
        await TeamAsync(new TeamQuota { MemoryBytes = 1L << 30 });
        ActAsBlue();
        await _host.Containers.CreateContainerAsync(Spec("small", RuntimeType.Default, new ContainerLimits { MemoryBytes = 64 * MiB }));

        // 64 MiB + long.MaxValue wrapped to a negative sum, and a VM's guest RAM rounded up past long.MaxValue to a negative charge.
        var process = await Assert.ThrowsAsync<ComputeException>(() =>
            _host.Containers.CreateContainerAsync(Spec("huge", RuntimeType.Default, new ContainerLimits { MemoryBytes = long.MaxValue })));
        Assert.Equal(ComputeErrorCode.QuotaExceeded, process.Code);
        Assert.Contains("(quota: memory)", process.Message, StringComparison.Ordinal);
        var vm = await Assert.ThrowsAsync<ComputeException>(() =>
            _host.Containers.CreateContainerAsync(Spec("hugevm", RuntimeType.HyperV, new ContainerLimits { MemoryBytes = long.MaxValue })));
        Assert.Equal(ComputeErrorCode.QuotaExceeded, vm.Code);
        Assert.Equal(64 * MiB, _ledger.Usage(_teams.Get("blue")).MemoryBytes);

        // A per-container maximum holds against them too.
        await TeamAsync(new TeamQuota { Limits = new LimitRange { MaxMemoryBytes = 512 * MiB } });
        var max = await Assert.ThrowsAsync<ComputeException>(() =>
            _host.Containers.CreateContainerAsync(Spec("hugevm", RuntimeType.HyperV, new ContainerLimits { MemoryBytes = long.MaxValue - 1 })));
        Assert.Contains("(quota: limits.max-memory)", max.Message, StringComparison.Ordinal);
        Assert.Single(_fake.Containers.ListContainers());
    }

    [Fact]
    public async Task A_conversion_to_process_isolation_needs_the_containers_own_limits_not_the_defaults_it_cannot_write()
    {
        // A VM-isolated container the administrators made for the team without limits (a VM is bounded by its guest RAM).
        await TeamAsync();
        AuditCaller.Current = null;
        await _host.Containers.CreateContainerAsync(Spec("vm", RuntimeType.HyperV) with
        {
            Labels = new Dictionary<string, string> { [TeamRules.OwnerLabel] = "blue" },
        });
        await TeamAsync(new TeamQuota { Cpus = 2, MemoryBytes = 1L << 30, Limits = new LimitRange { DefaultCpus = 0.5, DefaultMemoryBytes = 128 * MiB } });
        ActAsBlue();

        // Converted, it would run without any limit and count nothing against the quotas.
        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.ConvertContainerAsync("vm", RuntimeType.Default));
        Assert.Equal(ComputeErrorCode.QuotaExceeded, refused.Code);
        Assert.Contains("has no CPU limit", refused.Message, StringComparison.Ordinal);
        Assert.Contains("a conversion cannot add one", refused.Message, StringComparison.Ordinal);
        Assert.Equal(RuntimeType.HyperV, _fake.Containers.GetContainer("vm").RuntimeType);
        var denied = Assert.Single(Entries(AuditDecision.Denied));
        Assert.Equal((AuditActions.ContainerConvert, TeamRules.QuotaRule, "cpus"), (denied.Action, denied.Rule!, denied.Details!["quota"]));

        // A container with its own limits converts.
        await _host.Containers.CreateContainerAsync(Spec("limited", RuntimeType.HyperV, new ContainerLimits { Cpus = 1, MemoryBytes = 256 * MiB }));
        Assert.Equal(RuntimeType.Default, (await _host.Containers.ConvertContainerAsync("limited", RuntimeType.Default)).RuntimeType);
    }

    [Theory]
    [InlineData(PolicyMode.Warn)]
    [InlineData(PolicyMode.Audit)]
    public async Task Warn_and_Audit_modes_let_it_run_recorded_as_warned_and_Warn_tells_the_caller(PolicyMode mode)
    {
        await TeamAsync(policy: new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV], Mode = mode });
        ActAsBlue();
        using (var warnings = PolicyWarnings.Collect())
        {
            await _host.Containers.CreateContainerAsync(Spec("proc", RuntimeType.Default));
            await _host.Containers.CreateContainerAsync(Spec("vm", RuntimeType.HyperV));
            await _host.Containers.ConvertContainerAsync("vm", RuntimeType.Default);
            Assert.Equal(mode == PolicyMode.Warn ? 2 : 0, warnings.Items.Count);
            Assert.All(warnings.Items, w => Assert.Contains("Allowed for now: the policy's mode is Warn.", w, StringComparison.Ordinal));
        }

        var warned = Entries(AuditDecision.Warned);
        Assert.Equal([(AuditActions.ContainerCreate, "proc"), (AuditActions.ContainerConvert, "vm")], warned.Select(e => (e.Action, e.Target!.Name!)));
        Assert.All(warned, e => Assert.Equal((TeamRules.IsolationPolicyRule, AuditResult.Ok), (e.Rule, e.Result)));
        Assert.Contains($"mode is {mode}", warned[0].Reason, StringComparison.Ordinal);
        // The allowed create is recorded plainly.
        Assert.Single(Entries(AuditDecision.Allowed), e => e.Target?.Name == "vm" && e.Action == AuditActions.ContainerCreate);
    }

    [Fact]
    public async Task A_pids_limit_above_the_host_s_default_is_privileged()
    {
        // Compute:DefaultPidsLimit (1024) keeps a fork bomb from taking the host's PIDs (pid_max is one table for everyone).
        await TeamAsync();
        ActAsBlue();
        var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("forks", limits: new ContainerLimits { PidsLimit = 4_000_000 })));
        Assert.Equal(ComputeErrorCode.Forbidden, refused.Code);
        Assert.Contains("a pids limit of 4000000, above this host's default of 1024", refused.Message, StringComparison.Ordinal);
        Assert.Equal((AuditActions.ContainerCreate, TeamRules.PrivilegedRule), Entries(AuditDecision.Denied).Select(e => (e.Action, e.Rule!)).Single());

        await _host.Containers.CreateContainerAsync(Spec("fewer", limits: new ContainerLimits { PidsLimit = 1024 }));
        await TeamAsync(policy: new IsolationPolicy { AllowPrivileged = true });
        await _host.Containers.CreateContainerAsync(Spec("forks", limits: new ContainerLimits { PidsLimit = 4_000_000 }));
        AuditCaller.Current = null;
        await _host.Containers.CreateContainerAsync(Spec("admins", limits: new ContainerLimits { PidsLimit = 4_000_000 }));
    }

    [Fact]
    public async Task Privileged_options_are_refused_unless_the_policy_allows_them()
    {
        await TeamAsync();
        ActAsBlue();
        foreach (var security in new[]
                 {
                     new ContainerSecurity { CapabilityAdd = ["NET_ADMIN"] },
                     new ContainerSecurity { NoNewPrivileges = false },
                     new ContainerSecurity { AppArmorProfile = "unconfined" },
                     // Any other host profile may be looser than the default: Ubuntu ships browsers' profiles with flags=(unconfined).
                     new ContainerSecurity { AppArmorProfile = "firefox" },
                 })
        {
            var refused = await Assert.ThrowsAsync<ComputeException>(() => _host.Containers.CreateContainerAsync(Spec("priv") with { Security = security }));
            Assert.Equal(ComputeErrorCode.Forbidden, refused.Code);
            Assert.Contains("may not use privileged options", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(4, Entries(AuditDecision.Denied).Count(e => e.Rule == TeamRules.PrivilegedRule));
        // Tightening is not privileged, nor is naming the default profile.
        await _host.Containers.CreateContainerAsync(Spec("tight") with
        {
            Security = new ContainerSecurity { CapabilityDrop = ["ALL"], NoNewPrivileges = true, AppArmorProfile = "portal-default" },
        });

        await TeamAsync(policy: new IsolationPolicy { AllowPrivileged = true });
        await _host.Containers.CreateContainerAsync(Spec("priv") with { Security = new ContainerSecurity { CapabilityAdd = ["NET_ADMIN"] } });
    }
}
