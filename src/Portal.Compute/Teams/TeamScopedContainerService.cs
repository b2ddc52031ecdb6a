using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>The container service as a team caller may see and use it (see <see cref="TeamScopedComputeHost"/>).</summary>
internal sealed class TeamScopedContainerService(IComputeHost host, AuditTrail trail, TeamStore? teams, TeamQuotaLedger? quotas, long defaultPidsLimit) : IContainerService
{
    private const string Type = "container";
    // Handlers by value (a method group makes a new delegate each time, equal but not the same), with their filtered wrappers.
    private readonly List<(Action<ContainerEvent> Handler, Action<ContainerEvent> Filtered)> _filtered = [];
    private readonly Lock _lock = new();

    private IContainerService Inner => host.Containers;

    /// <summary>The team's view of the switches: a team's container joins only a switch the team may see.</summary>
    internal TeamScopedSwitchService? Switches { get; set; }

    /// <summary>A subscriber acting for a team gets only its team's containers' events (the caller at subscription decides).</summary>
    public event Action<ContainerEvent>? Changed
    {
        add
        {
            if (value is null)
            {
                return;
            }

            if (TeamScopedComputeHost.TeamCaller() is { } caller)
            {
                var team = caller.Team!;
                Action<ContainerEvent> filtered = e =>
                {
                    if (TeamScopedComputeHost.Owns(team, e.Container))
                    {
                        value(e);
                    }
                };
                lock (_lock)
                {
                    _filtered.Add((value, filtered));
                }

                Inner.Changed += filtered;
            }
            else
            {
                Inner.Changed += value;
            }
        }

        remove
        {
            if (value is null)
            {
                return;
            }

            Action<ContainerEvent>? filtered = null;
            lock (_lock)
            {
                var index = _filtered.FindLastIndex(f => f.Handler.Equals(value));
                if (index >= 0)
                {
                    filtered = _filtered[index].Filtered;
                    _filtered.RemoveAt(index);
                }
            }

            Inner.Changed -= filtered ?? value;
        }
    }

    public IReadOnlyCollection<RuntimeType> RuntimeTypes => Inner.RuntimeTypes;

    public RuntimeType DefaultRuntimeType => Inner.DefaultRuntimeType;

    public IReadOnlyList<ContainerInfo> ListContainers() => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(caller.Team!, c)).ToList()
        : Inner.ListContainers();

    public ContainerInfo GetContainer(string idOrName) => Check(idOrName, TeamAction.Read, null);

    public async Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct = default)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return await Inner.CreateContainerAsync(spec, ct).ConfigureAwait(false);
        }

        var target = trail.Target(Type, null, spec.Name);
        TeamScopedComputeHost.Demand(trail, caller, TeamAction.Create, AuditActions.ContainerCreate, target);

        // The owner is the caller's team, whatever label the caller sent.
        var labels = new Dictionary<string, string>(spec.Labels, StringComparer.Ordinal) { [TeamRules.OwnerLabel] = caller.Team! };
        spec = spec with
        {
            Labels = labels,
            SwitchName = Switches?.ForContainer(caller, spec.SwitchName, target) ?? spec.SwitchName,
            Image = VisibleImage(caller, spec.Image, target),
        };
        if (TeamOf(caller) is not { } team || quotas is null)
        {
            return await Inner.CreateContainerAsync(spec, ct).ConfigureAwait(false);
        }

        // The policy first (which isolation, which options), then the LimitRange, then the quota.
        var runtimeType = TeamPolicy.Effective(team.Policy, spec.RuntimeType, Inner.DefaultRuntimeType);
        using var warned = PolicyDecision(caller, team, AuditActions.ContainerCreate, target, spec.RuntimeType, runtimeType, conversion: false);
        if (TeamPolicy.PrivilegedRefusal(team.Name, team.Policy, spec.Security, spec.Limits?.PidsLimit, defaultPidsLimit) is { } privileged)
        {
            throw Refuse(caller, AuditActions.ContainerCreate, target, TeamRules.PrivilegedRule, privileged, ComputeErrorCode.Forbidden, null, spec.RuntimeType, runtimeType);
        }

        var vm = quotas.Vm;
        var (limits, outOfRange) = TeamQuotas.ApplyLimitRange(team.Name, team.Quota, runtimeType, spec.Limits ?? new ContainerLimits(), vm);
        if (outOfRange is not null)
        {
            throw RefuseQuota(caller, AuditActions.ContainerCreate, target, outOfRange, spec.RuntimeType, runtimeType);
        }

        // The reservation is known by the container's name until the container is in the list: name it now if the caller did not.
        var name = spec.Name is null ? ContainerNames.Generate(n => Inner.ListContainers().Any(c => c.Name == n)) : ContainerNames.Validate(spec.Name);
        var (reservation, refusal) = quotas.TryReserve(team, TeamQuotas.ChargeOf(runtimeType, limits, vm), runtimeType, owned => !owned.Any(c => c.Name == name));
        if (refusal is not null)
        {
            throw RefuseQuota(caller, AuditActions.ContainerCreate, target, refusal, spec.RuntimeType, runtimeType);
        }

        using (reservation)
        {
            return await Inner.CreateContainerAsync(spec with { Name = name, RuntimeType = runtimeType, Limits = limits }, ct).ConfigureAwait(false);
        }
    }

    public Task<ContainerInfo> StartContainerAsync(string idOrName, CancellationToken ct = default) =>
        Inner.StartContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerStart), ct);

    public Task<ContainerInfo> ShutdownContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        Inner.ShutdownContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerStop), timeout, ct);

    public Task<ContainerInfo> RestartContainerAsync(string idOrName, TimeSpan? timeout = null, CancellationToken ct = default) =>
        Inner.RestartContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerRestart), timeout, ct);

    public Task<ContainerInfo> TerminateContainerAsync(string idOrName, CancellationToken ct = default) =>
        Inner.TerminateContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerTerminate), ct);

    public Task KillContainerAsync(string idOrName, int signal, CancellationToken ct = default) =>
        Inner.KillContainerAsync(Id(idOrName, TeamAction.Operate, AuditActions.ContainerKill), signal, ct);

    public Task RemoveContainerAsync(string idOrName, bool force = false, CancellationToken ct = default) =>
        Inner.RemoveContainerAsync(Id(idOrName, TeamAction.Remove, AuditActions.ContainerRemove), force, ct);

    public async Task<ContainerInfo> ConvertContainerAsync(string idOrName, RuntimeType target, bool restart = false, IProgress<OperationStep>? progress = null, CancellationToken ct = default)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return await Inner.ConvertContainerAsync(idOrName, target, restart, progress, ct).ConfigureAwait(false);
        }

        var container = Check(idOrName, TeamAction.Convert, AuditActions.ContainerConvert);
        if (container.RuntimeType == target || TeamOf(caller) is not { } team || quotas is null)
        {
            return await Inner.ConvertContainerAsync(container.Id, target, restart, progress, ct).ConfigureAwait(false);
        }

        // A conversion charges the new runtime type: process to HyperV takes a VM slot and the guest memory.
        var audited = trail.Target(Type, container.Id, container.Name);
        using var warned = PolicyDecision(caller, team, AuditActions.ContainerConvert, audited, target, target, conversion: true);
        var vm = quotas.Vm;
        var (_, outOfRange) = TeamQuotas.ApplyLimitRange(team.Name, team.Quota, target, container.Limits, vm, conversion: true);
        if (outOfRange is not null)
        {
            throw RefuseQuota(caller, AuditActions.ContainerConvert, audited, outOfRange, target, target);
        }

        var growth = TeamQuotas.ChargeOf(target, container.Limits, vm) - TeamQuotas.ChargeOf(container, vm);
        var (reservation, refusal) = quotas.TryReserve(team, growth, target,
            owned => owned.FirstOrDefault(c => c.Id == container.Id) is { } now && now.RuntimeType != target);
        if (refusal is not null)
        {
            throw RefuseQuota(caller, AuditActions.ContainerConvert, audited, refusal, target, target);
        }

        using (reservation)
        {
            return await Inner.ConvertContainerAsync(container.Id, target, restart, progress, ct).ConfigureAwait(false);
        }
    }

    public Task<IContainerProcess> ExecAsync(string idOrName, ProcessSpec spec, CancellationToken ct = default) =>
        Inner.ExecAsync(Id(idOrName, TeamAction.Terminal, AuditActions.ContainerExec), spec, ct);

    public Task<ContainerInfo> WaitAsync(string idOrName, CancellationToken ct = default) =>
        Inner.WaitAsync(Id(idOrName, TeamAction.Read, null), ct);

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, int? tail, bool follow, CancellationToken ct = default) =>
        Inner.ReadLogsAsync(Id(idOrName, TeamAction.Logs, null), tail, follow, ct);

    public Task<ContainerAttachment> AttachAsync(string idOrName, bool includeEarlierOutput, bool stdin, CancellationToken ct = default) =>
        Inner.AttachAsync(stdin ? Id(idOrName, TeamAction.Terminal, AuditActions.ContainerAttach) : Id(idOrName, TeamAction.Logs, null), includeEarlierOutput, stdin, ct);

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string idOrName, CancellationToken ct = default) =>
        Inner.GetProcessesAsync(Id(idOrName, TeamAction.Read, null), ct);

    public Task<ContainerStatistics> GetStatisticsAsync(string idOrName, CancellationToken ct = default) =>
        Inner.GetStatisticsAsync(Id(idOrName, TeamAction.Read, null), ct);

    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct = default)
    {
        var all = await Inner.GetAllStatisticsAsync(ct).ConfigureAwait(false);
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return all;
        }

        var owned = Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(caller.Team!, c)).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        return all.Where(s => owned.Contains(s.Key)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// The image reference a team's container is created from, among the images the team may see: another team's import
    /// is "not found". The reference stays as given when it means that image for everyone, else it becomes the image's id.
    /// </summary>
    private string VisibleImage(AuditCaller caller, string reference, AuditTarget target)
    {
        var image = TeamScopedImageService.Visible(host.Images, trail, caller, reference, AuditActions.ContainerCreate, target);
        try
        {
            return host.Images.Resolve(reference, null).Id == image.Id ? reference : image.Id;
        }
        catch (ComputeException)
        {
            return image.Id;
        }
    }

    /// <summary>The caller's team as this agent holds it; null without a team store (role rules only).</summary>
    private TeamInfo? TeamOf(AuditCaller caller) => teams is null
        ? null
        : teams.Find(caller.Team!) ?? throw new ComputeException(ComputeErrorCode.Forbidden, $"Team '{caller.Team}' no longer exists on this agent; an administrator pushes the team again.");

    /// <summary>
    /// The isolation policy's decision on a runtime type: allowed (null); refused in Enforce mode (recorded, thrown);
    /// allowed with a warning in Warn mode (the caller's entry point shows it) and in Audit mode (the audit trail only),
    /// the action then recorded Warned until the returned scope ends.
    /// </summary>
    private IDisposable? PolicyDecision(AuditCaller caller, TeamInfo team, string action, AuditTarget target, RuntimeType? requested, RuntimeType effective, bool conversion)
    {
        if (TeamPolicy.RuntimeRefusal(team.Name, team.Policy, effective, conversion) is not { } why)
        {
            return null;
        }

        switch (team.Policy.Mode)
        {
            case PolicyMode.Warn:
                var warning = $"{why} Allowed for now: the policy's mode is Warn.";
                PolicyWarnings.Add(warning);
                return AuditTrail.Warned(TeamRules.IsolationPolicyRule, warning);
            case PolicyMode.Audit:
                return AuditTrail.Warned(TeamRules.IsolationPolicyRule, $"{why} Allowed: the policy's mode is Audit.");
            default:
                throw Refuse(caller, action, target, TeamRules.IsolationPolicyRule, why, ComputeErrorCode.Forbidden, null, requested, effective);
        }
    }

    private ComputeException RefuseQuota(AuditCaller caller, string action, AuditTarget target, QuotaRefusal refusal, RuntimeType? requested, RuntimeType effective) =>
        Refuse(caller, action, target, TeamRules.QuotaRule, refusal.Message, ComputeErrorCode.QuotaExceeded,
            new Dictionary<string, string>(StringComparer.Ordinal) { ["quota"] = refusal.Quota }, requested, effective);

    /// <summary>Records the refusal (decision denied, the rule, not run) and makes the error the caller gets.</summary>
    private ComputeException Refuse(AuditCaller caller, string action, AuditTarget target, string rule, string reason, ComputeErrorCode code,
        IReadOnlyDictionary<string, string>? details, RuntimeType? requested, RuntimeType effective)
    {
        trail.Deny(action, target, rule, reason, caller, details, requested, effective);
        return new ComputeException(code, reason);
    }

    /// <summary>
    /// The container's id once the caller may do <paramref name="action"/> to it: acting on the id keeps a reference
    /// that means another container (a name reused meanwhile) from slipping past the check.
    /// </summary>
    private string Id(string idOrName, TeamAction action, string? auditAction) =>
        TeamScopedComputeHost.TeamCaller() is null ? idOrName : Check(idOrName, action, auditAction).Id;

    private ContainerInfo Check(string idOrName, TeamAction action, string? auditAction)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return Inner.GetContainer(idOrName);
        }

        var container = Resolve(caller.Team!, idOrName);
        TeamScopedComputeHost.Demand(trail, caller, action, auditAction ?? $"container.{action.ToString().ToLowerInvariant()}", trail.Target(Type, container.Id, container.Name));
        return container;
    }

    /// <summary>
    /// A reference resolved among the team's containers only (exact id, name, then unique id prefix, as the store does):
    /// another team's container answers exactly as a missing one, and an id prefix is never ambiguous because of one, so
    /// nothing of other teams' containers leaks.
    /// </summary>
    private ContainerInfo Resolve(string team, string idOrName)
    {
        if (string.IsNullOrWhiteSpace(idOrName))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No container given: name a container by its name or id.");
        }

        var key = idOrName.TrimStart('/');
        var owned = Inner.ListContainers().Where(c => TeamScopedComputeHost.Owns(team, c)).ToList();
        var match = owned.FirstOrDefault(c => c.Id == key) ?? owned.FirstOrDefault(c => c.Name == key);
        if (match is not null)
        {
            return match;
        }

        var byPrefix = owned.Where(c => c.Id.StartsWith(key, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
        return byPrefix.Count switch
        {
            1 => byPrefix[0],
            0 => throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: '{idOrName}'. List containers to see their names and ids."),
            _ => throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{idOrName}' matches more than one container id; give more of the id."),
        };
    }
}
