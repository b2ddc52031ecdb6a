using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>
/// The one enforcement path of teams, outside the audited host so every front end (REST, hub, docker socket) goes
/// through it: a caller acting for a team (<see cref="AuditCaller.Current"/> with a Team) sees only the containers its
/// team owns (another team's is "not found", so names do not leak) and may do to them what its role allows; a refusal
/// is recorded in the audit trail (decision denied, rule <see cref="TeamRules.RoleRule"/>) and thrown as Forbidden.
/// With the team store and the quota ledger, creates and conversions are also held to the team's isolation policy and
/// quotas (<see cref="TeamPolicy"/>, <see cref="TeamQuotas"/>). Callers without a team (administrators, the agent
/// itself) pass through unchanged.
/// </summary>
public sealed class TeamScopedComputeHost : IComputeHost
{
    private readonly IComputeHost _inner;
    private readonly TeamScopedContainerService _containers;
    private readonly TeamScopedImageService _images;
    private readonly TeamScopedSwitchService _switches;
    private readonly TeamScopedHostProcessView _processes;

    /// <param name="defaultPidsLimit">Compute:DefaultPidsLimit: a team may not raise a container's pids limit above it (a privileged option).</param>
    public TeamScopedComputeHost(IComputeHost inner, AuditTrail trail, TeamStore? teams = null, TeamQuotaLedger? quotas = null, long? defaultPidsLimit = null)
    {
        _inner = inner;
        _containers = new TeamScopedContainerService(inner, trail, teams, quotas, defaultPidsLimit ?? new ComputeOptions().DefaultPidsLimit);
        _images = new TeamScopedImageService(inner, trail, teams);
        _switches = new TeamScopedSwitchService(inner, trail, teams);
        _containers.Switches = _switches;
        _processes = new TeamScopedHostProcessView(inner, _containers, trail);
    }

    public IContainerService Containers => _containers;

    public IImageService Images => _images;

    public ISwitchService Switches => _switches;

    public IHostProcessView HostProcesses => _processes;

    /// <summary>The host's facts; for a team caller its counts are the team's (its containers, the images it may see), not the host's.</summary>
    public HostInfo GetHostInfo()
    {
        var info = _inner.GetHostInfo();
        if (TeamCaller() is null)
        {
            return info;
        }

        var containers = _containers.ListContainers();
        return info with
        {
            Containers = containers.Count,
            RunningContainers = containers.Count(c => c.State is ContainerState.Running or ContainerState.Stopping),
            Images = _images.List().Count,
        };
    }

    /// <summary>The acting team caller of this flow; null for administrators and the agent.</summary>
    internal static AuditCaller? TeamCaller() => AuditCaller.Current is { Team: not null } caller ? caller : null;

    /// <summary>Whether the container belongs to the team.</summary>
    public static bool Owns(string team, ContainerInfo container) =>
        container.Labels.TryGetValue(TeamRules.OwnerLabel, out var owner) && owner == team;

    /// <summary>Refuses (recorded, then Forbidden) unless the caller's role allows the action.</summary>
    internal static void Demand(AuditTrail trail, AuditCaller caller, TeamAction action, string auditAction, AuditTarget? target)
    {
        // A team caller without a role is a bug in its entry point: refuse rather than guess.
        var role = caller.Role ?? TeamRole.Viewer;
        var refusal = caller.Role is null
            ? $"The caller acts for team '{caller.Team}' without a role; nothing is allowed."
            : TeamRules.Refusal(caller.Team!, role, action, auditAction);
        if (refusal is null)
        {
            return;
        }

        trail.Deny(auditAction, target, TeamRules.RoleRule, refusal, caller);
        throw new ComputeException(ComputeErrorCode.Forbidden, refusal);
    }
}

/// <summary>Compute systems of the team's containers only; the host's own processes are for administrators.</summary>
internal sealed class TeamScopedHostProcessView(IComputeHost host, TeamScopedContainerService containers, AuditTrail trail) : IHostProcessView
{
    private IHostProcessView Inner => host.HostProcesses;

    public IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null)
    {
        var all = Inner.EnumerateComputeSystems(query);
        if (TeamScopedComputeHost.TeamCaller() is null)
        {
            return all;
        }

        // A container's systems: itself, and its utility VM ("<id>@vm").
        var owned = containers.ListContainers().Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        return all.Where(s => owned.Contains(s.Id.Split('@')[0])).ToList();
    }

    public IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null)
    {
        if (TeamScopedComputeHost.TeamCaller() is { } caller)
        {
            TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageHost, "host.processes", trail.Target("host", null, null));
        }

        return Inner.FindHostProcesses(match);
    }

    public Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default) =>
        Inner.GetIsolationViewAsync(TeamScopedComputeHost.TeamCaller() is null ? idOrName : containers.GetContainer(idOrName).Id, ct);
}
