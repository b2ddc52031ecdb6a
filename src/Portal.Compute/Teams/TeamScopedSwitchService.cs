using Portal.Compute.Audit;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>
/// Switches as a team caller may see and use them (see <see cref="TeamScopedComputeHost"/>): its team's switches and the
/// administrators' (shared infrastructure such as the default NAT switch, which it may connect containers to but not
/// remove); another team's switch answers as a missing one. A Member creates switches for its team and removes only
/// those; a switch lists only the caller's team's containers on it.
/// </summary>
internal sealed class TeamScopedSwitchService(IComputeHost host, AuditTrail trail, TeamStore? teams) : ISwitchService
{
    private const string Type = "switch";

    private ISwitchService Inner => host.Switches;

    public event Action? SwitchesChanged
    {
        add => Inner.SwitchesChanged += value;
        remove => Inner.SwitchesChanged -= value;
    }

    /// <summary>Whether the team may see (and connect containers to) the switch: its own and the administrators'.</summary>
    public static bool Visible(string team, SwitchInfo sw) => sw.Team is null || sw.Team == team;

    public IReadOnlyList<SwitchInfo> ListSwitches()
    {
        var all = Inner.ListSwitches();
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            return all;
        }

        var owned = OwnedContainers(caller.Team!);
        return all.Where(s => Visible(caller.Team!, s)).Select(s => Narrow(s, owned)).ToList();
    }

    public SwitchInfo GetSwitch(string nameOrId) => TeamScopedComputeHost.TeamCaller() is { } caller
        ? Narrow(Resolve(caller, nameOrId, null, null), OwnedContainers(caller.Team!))
        : Inner.GetSwitch(nameOrId);

    public async Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            // An administrator may make a switch for a team, which must then exist here.
            if (!string.IsNullOrWhiteSpace(spec.Team) && teams is not null && teams.Find(spec.Team.Trim()) is null)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"No team '{spec.Team}' on this agent: push the team first, or leave the switch's team empty to make an administrators' switch.");
            }

            return await Inner.CreateSwitchAsync(spec, ct).ConfigureAwait(false);
        }

        TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageSwitches, AuditActions.SwitchCreate, trail.Target(Type, null, spec.Name));

        // A subnet another team's switch holds is refused without naming that switch.
        if (!string.IsNullOrWhiteSpace(spec.Subnet) && Ipv4Subnet.Parse(spec.Subnet) is var subnet
            && Inner.ListSwitches().Any(s => !Visible(caller.Team!, s) && s.Subnet is not null && Ipv4Subnet.Parse(s.Subnet).Overlaps(subnet)))
        {
            throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Subnet {subnet} overlaps a switch on this host: choose another subnet, or give none to get a free one.");
        }

        // The owner is the caller's team, whatever the caller sent.
        return Narrow(await Inner.CreateSwitchAsync(spec with { Team = caller.Team }, ct).ConfigureAwait(false), OwnedContainers(caller.Team!));
    }

    public async Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default)
    {
        if (TeamScopedComputeHost.TeamCaller() is not { } caller)
        {
            await Inner.RemoveSwitchAsync(nameOrId, ct).ConfigureAwait(false);
            return;
        }

        var sw = Resolve(caller, nameOrId, AuditActions.SwitchRemove, null);
        var target = trail.Target(Type, sw.Id, sw.Name);
        TeamScopedComputeHost.Demand(trail, caller, TeamAction.ManageSwitches, AuditActions.SwitchRemove, target);
        if (sw.Team != caller.Team)
        {
            var refusal = $"Switch '{sw.Name}' belongs to the administrators and is shared by every team: your team may connect containers to it but remove only its own switches.";
            trail.Deny(AuditActions.SwitchRemove, target, TeamRules.OwnershipRule, refusal, caller);
            throw new ComputeException(ComputeErrorCode.Forbidden, refusal);
        }

        await Inner.RemoveSwitchAsync(sw.Id, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The switch a team caller's container joins (null: the host's default switch), among the switches the team may
    /// see: another team's is "not found". Answers the switch's id, so the container joins exactly the switch checked.
    /// </summary>
    internal string? ForContainer(AuditCaller caller, string? switchName, AuditTarget container)
    {
        if (!string.IsNullOrWhiteSpace(switchName))
        {
            return Resolve(caller, switchName, AuditActions.ContainerCreate, container).Id;
        }

        if (Inner.ListSwitches().FirstOrDefault(s => s.IsDefault) is { } fallback && !Visible(caller.Team!, fallback))
        {
            throw new ComputeException(ComputeErrorCode.SwitchNotFound, "The host's default switch is not available to your team: name the switch to connect the container to (for example none), or ask an administrator.");
        }

        return null;
    }

    /// <summary>
    /// A switch among those the team may see; another team's answers with the words of a missing one. An attempt to
    /// change (<paramref name="action"/>) something with another team's switch is recorded, denied, with the truth.
    /// </summary>
    private SwitchInfo Resolve(AuditCaller caller, string nameOrId, string? action, AuditTarget? target)
    {
        var sw = Inner.GetSwitch(nameOrId);
        if (Visible(caller.Team!, sw))
        {
            return sw;
        }

        if (action is not null)
        {
            trail.Deny(action, target ?? trail.Target(Type, sw.Id, sw.Name), TeamRules.OwnershipRule,
                $"Switch '{sw.Name}' belongs to team '{sw.Team}'; the caller was told that no such switch exists.", caller);
        }

        throw SwitchCatalog.NotFound(nameOrId);
    }

    private HashSet<string> OwnedContainers(string team) =>
        host.Containers.ListContainers().Where(c => TeamScopedComputeHost.Owns(team, c)).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>A shared switch lists only the caller's team's containers.</summary>
    private static SwitchInfo Narrow(SwitchInfo sw, HashSet<string> owned) =>
        sw with { Containers = sw.Containers.Where(e => owned.Contains(e.ContainerId)).ToList() };
}
