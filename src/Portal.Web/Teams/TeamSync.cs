using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Portal.Client;
using Portal.Web.Hosts;

namespace Portal.Web.Teams;

/// <summary>The last push of one team to one host.</summary>
/// <param name="Error">The agent's or the network's words when it failed; null when it succeeded.</param>
public sealed record TeamPushStatus(string HostId, string Team, bool Deleted, string? Error, DateTimeOffset At)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Keeps every agent's copy of the teams equal to the portal's (the agents enforce them, also while the portal is away):
/// a changed team is pushed whole (PUT /api/teams/{name}) to every connected host, a deleted one removed, and a host that
/// connects (or reconnects) gets every team again and every removal it missed. A failed push is shown on the Teams
/// page per host and tried again at the host's next connection (or the team's next change). The hosts' copy leaves out
/// disabled users (<see cref="TeamDirectory.GetForHostsAsync"/>); users are disabled and enabled again by commands that
/// run in a process of their own (disable-user, reset-password), so the disabled users are read every
/// <see cref="PortalOptions.UserRevalidationInterval"/> and the teams of those whose state changed pushed again.
/// </summary>
public sealed class TeamSync : IHostedService
{
    private readonly TeamDirectory _teams;
    private readonly Fleet _fleet;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string HostId, string Team), TeamPushStatus> _status = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _hostGates = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _userCheckInterval;
    private Task _watchingUsers = Task.CompletedTask;

    public TeamSync(TeamDirectory teams, Fleet fleet, TimeProvider time, IOptions<PortalOptions> options, ILoggerFactory loggers)
    {
        _teams = teams;
        _fleet = fleet;
        _time = time;
        _userCheckInterval = options.Value.UserRevalidationInterval;
        _logger = loggers.CreateLogger<TeamSync>();
        _teams.Changed += OnTeamChanged;
        _fleet.HostConnected += OnHostConnected;
    }

    /// <summary>Raised (on a background thread) after a push ended.</summary>
    public event Action? Changed;

    /// <summary>The last push of each team to each host (deletions the hosts have not confirmed included).</summary>
    public IReadOnlyList<TeamPushStatus> Status => [.. _status.Values];

    public IEnumerable<TeamPushStatus> StatusOf(string team) => _status.Values.Where(s => s.Team == team);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _watchingUsers = Task.Run(WatchDisabledUsersAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _teams.Changed -= OnTeamChanged;
        _fleet.HostConnected -= OnHostConnected;
        await _stop.CancelAsync();
        await _watchingUsers.WaitAsync(cancellationToken);
    }

    /// <summary>Pushes one team as it is now (or its removal, when it is gone) to every connected host.</summary>
    public async Task PushAsync(string team, bool deleted)
    {
        foreach (var away in _fleet.Hosts.Where(h => h.State != HostConnectionState.Connected))
        {
            _status[(away.Id, team)] = new TeamPushStatus(away.Id, team, deleted, $"Host '{away.Name}' is not connected: the team goes to it when it connects.", _time.GetUtcNow());
        }

        await Task.WhenAll(_fleet.Hosts.Where(h => h.State == HostConnectionState.Connected).Select(h => PushOneAsync(h, team)));
    }

    /// <summary>
    /// Every team, and the removal of every team the host holds that the portal no longer has, to a host that just
    /// connected. The portal is the source of the teams of its hosts: a team deleted while the host was away goes from
    /// it too, even when the portal restarted in between (its members' keys and certificates would otherwise work on).
    /// </summary>
    public async Task CatchUpAsync(AgentHost host)
    {
        var teams = (await _teams.ListAsync(_stop.Token)).Select(t => t.Name).ToList();
        var pendingRemovals = _status.Values.Where(s => s.HostId == host.Id && s.Deleted && !s.Succeeded).Select(s => s.Team);
        IEnumerable<string> held = [];
        try
        {
            held = (await host.Client.ListTeamsAsync(_stop.Token)).Select(t => t.Name);
        }
        catch (AgentException e)
        {
            _logger.LogWarning("Could not list the teams of host {Host}: {Error}; removals it missed wait for its next connection", host.Name, e.Message);
        }

        foreach (var team in teams.Union(pendingRemovals).Union(held.Except(teams)).ToList())
        {
            await PushOneAsync(host, team);
        }
    }

    /// <summary>
    /// The team as the directory has it at the moment of sending (gone: removed), one push at a time per host, so a quick
    /// edit and a reconnect cannot land out of order and the last push is always the latest state.
    /// </summary>
    private async Task PushOneAsync(AgentHost host, string team)
    {
        var gate = _hostGates.GetOrAdd(host.Id, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(_stop.Token);
        string? error = null;
        Contracts.TeamInfo? info = null;
        try
        {
            info = await _teams.GetForHostsAsync(team, _stop.Token);
            var client = host.Client;
            if (info is null)
            {
                await client.RemoveTeamAsync(team, _stop.Token);
            }
            else
            {
                await client.PutTeamAsync(info, _stop.Token);
            }
        }
        catch (AgentException e)
        {
            error = e.Message;
            _logger.LogWarning("Could not push team {Team} to host {Host}: {Error} (tried again when the host reconnects)", team, host.Name, e.Message);
        }
        finally
        {
            gate.Release();
        }

        if (info is null && error is null)
        {
            _status.TryRemove((host.Id, team), out _);
        }
        else
        {
            _status[(host.Id, team)] = new TeamPushStatus(host.Id, team, info is null, error, _time.GetUtcNow());
        }

        Changed?.Invoke();
    }

    /// <summary>
    /// Pushes the teams of every user who was disabled or enabled again since the last look (the first look only notes
    /// who is disabled: a host that connects gets every team without them anyway).
    /// </summary>
    private async Task WatchDisabledUsersAsync()
    {
        IReadOnlySet<string>? known = null;
        using var timer = new PeriodicTimer(_userCheckInterval, _time);
        try
        {
            do
            {
                try
                {
                    var disabled = await _teams.DisabledUserNamesAsync(_stop.Token);
                    if (known is not null && !disabled.SetEquals(known))
                    {
                        var teams = new SortedSet<string>(StringComparer.Ordinal);
                        foreach (var user in disabled.Except(known).Union(known.Except(disabled)))
                        {
                            teams.UnionWith((await _teams.MembershipsAsync(user, _stop.Token)).Select(m => m.Team));
                        }

                        foreach (var team in teams)
                        {
                            await PushAsync(team, deleted: false);
                        }
                    }

                    known = disabled;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning(e, "Could not check for disabled users; trying again in {Interval}", _userCheckInterval);
                }
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private void OnTeamChanged(string team, bool deleted) => Run(() => PushAsync(team, deleted), $"team {team}");

    private void OnHostConnected(AgentHost host) => Run(() => CatchUpAsync(host), $"host {host.Name}");

    private void Run(Func<Task> work, string what) => _ = Task.Run(async () =>
    {
        try
        {
            await work();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Pushing teams for {What} failed", what);
        }
    });
}
