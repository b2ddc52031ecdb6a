using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>
/// A team's use of this host and its reservations: the check and the reservation happen under one lock per team, so
/// two concurrent creates cannot both take the last slot. Use is counted from the team's containers in any state (the
/// owner label), plus the reservations of creates and conversions still running; a reservation stops counting once
/// what it reserved is in the container list (a create: a team container of that name; a conversion: the container
/// at its new runtime type), so nothing is counted twice, and it is released when the call ends, whether it failed or not.
/// </summary>
public sealed class TeamQuotaLedger(Func<IReadOnlyList<ContainerInfo>> listContainers, Func<VmMemoryCharge> vm)
{
    private readonly Dictionary<string, List<Reservation>> _reservations = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public VmMemoryCharge Vm => vm();

    /// <summary>What the team uses now (its containers and the reservations not yet among them), against its quota.</summary>
    public TeamUsage Usage(TeamInfo team)
    {
        lock (_lock)
        {
            var used = UsedLocked(team.Name, vm());
            return new TeamUsage
            {
                Team = team.Name,
                Containers = used.Containers,
                VmContainers = used.VmContainers,
                Cpus = Math.Round(used.Cpus, 3),
                MemoryBytes = used.MemoryBytes,
                Quota = team.Quota,
            };
        }
    }

    /// <summary>
    /// Reserves <paramref name="charge"/> for the team when it fits its quota (dispose the reservation when the call
    /// ends), or answers the refusal. <paramref name="pending"/> says, from the container list, whether what is reserved
    /// has not appeared there yet.
    /// </summary>
    public (IDisposable? Reservation, QuotaRefusal? Refusal) TryReserve(TeamInfo team, QuotaCharge charge, RuntimeType runtimeType, Func<IReadOnlyList<ContainerInfo>, bool> pending)
    {
        var charges = vm();
        lock (_lock)
        {
            var used = UsedLocked(team.Name, charges);
            if (TeamQuotas.Check(team.Name, team.Quota, used, charge, charges, runtimeType) is { } refusal)
            {
                return (null, refusal);
            }

            var reservation = new Reservation(this, team.Name, charge, pending);
            if (!_reservations.TryGetValue(team.Name, out var list))
            {
                _reservations[team.Name] = list = [];
            }

            list.Add(reservation);
            return (reservation, null);
        }
    }

    private QuotaCharge UsedLocked(string team, VmMemoryCharge charges)
    {
        var owned = listContainers().Where(c => TeamScopedComputeHost.Owns(team, c)).ToList();
        var used = TeamQuotas.Sum(owned, charges);
        if (_reservations.TryGetValue(team, out var list))
        {
            foreach (var reservation in list.Where(r => r.Pending(owned)))
            {
                used += reservation.Charge;
            }
        }

        return used;
    }

    private void Release(Reservation reservation)
    {
        lock (_lock)
        {
            if (_reservations.TryGetValue(reservation.Team, out var list) && list.Remove(reservation) && list.Count == 0)
            {
                _reservations.Remove(reservation.Team);
            }
        }
    }

    private sealed class Reservation(TeamQuotaLedger ledger, string team, QuotaCharge charge, Func<IReadOnlyList<ContainerInfo>, bool> pending) : IDisposable
    {
        private int _released;

        public string Team => team;

        public QuotaCharge Charge => charge;

        public bool Pending(IReadOnlyList<ContainerInfo> owned) => pending(owned);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                ledger.Release(this);
            }
        }
    }
}
