using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Hosts;

namespace Portal.Web.Audit;

/// <summary>
/// The audit trail of every host and the portal, merged: a search reads each host's newest matching entries
/// (<c>GET /api/audit</c> with the filters the agent knows) and the portal's own trail, in parallel, and merges them by
/// time, newest first; a host that is offline or refuses is named in <see cref="AuditListing.Missing"/>. While anyone
/// follows, it holds one live stream per host (the hub's <c>SubscribeAudit</c>), resumed after a drop from the last
/// sequence it had, so nothing recorded in between is lost.
/// </summary>
public sealed class AuditCollector : IAuditSource, IHostedService, IAsyncDisposable
{
    private readonly Fleet _fleet;
    private readonly IAgentAuditClientFactory _clients;
    private readonly PortalAuditLog _portal;
    private readonly PortalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Follower> _followers = [];
    private ImmutableList<Action<AuditRow>> _listeners = [];
    private IDisposable? _fleetSubscription;
    private bool _stopped;

    public AuditCollector(Fleet fleet, IAgentAuditClientFactory clients, PortalAuditLog portal, IOptions<PortalOptions> options, TimeProvider time, ILogger<AuditCollector> logger)
    {
        _fleet = fleet;
        _clients = clients;
        _portal = portal;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _portal.Recorded += OnPortalRecorded;
    }

    public IReadOnlyList<string> Hosts => [.. _fleet.Hosts.Select(h => h.Name)];

    public async Task<AuditListing> ReadAsync(AuditSearch search, int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var hosts = _fleet.Hosts.Where(h => search.Covers(h.Name)).ToList();
        var reads = hosts.Select(h => ReadHostAsync(h, search, limit, ct)).ToList();
        var rows = new List<AuditRow>();
        var missing = new List<MissingHost>();
        var truncated = false;
        if (search.Covers(AuditRow.PortalSource))
        {
            var (entries, more) = _portal.Read(search, limit);
            rows.AddRange(entries.Select(AuditRow.Portal));
            truncated |= more;
        }

        foreach (var (host, entries, more, problem) in await Task.WhenAll(reads))
        {
            if (problem is not null)
            {
                missing.Add(new MissingHost(host, problem));
                continue;
            }

            rows.AddRange(entries.Select(e => new AuditRow(host, false, e)));
            truncated |= more;
        }

        var ordered = rows.OrderByDescending(r => r.Entry.Time).ThenBy(r => r.Host, StringComparer.Ordinal).ThenByDescending(r => r.Entry.Sequence).ToList();
        return new AuditListing(ordered.Count > limit ? ordered.GetRange(0, limit) : ordered, missing, truncated || ordered.Count > limit);
    }

    /// <summary>How long <see cref="FollowAsync"/> waits for a slow host's stream to start before it returns anyway.</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(5);

    public async Task<IDisposable> FollowAsync(Action<AuditRow> onEntry, CancellationToken ct)
    {
        var subscription = Follow(onEntry);
        Task[] ready;
        lock (_lock)
        {
            ready = [.. _followers.Values.Select(f => f.Ready.Task)];
        }

        try
        {
            await Task.WhenAll(ready).WaitAsync(ReadyTimeout, _time, ct);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("A host's live audit trail did not start within {Timeout}; following it when it does.", ReadyTimeout);
        }

        return subscription;
    }

    private IDisposable Follow(Action<AuditRow> onEntry)
    {
        lock (_lock)
        {
            _listeners = _listeners.Add(onEntry);
            if (_listeners.Count == 1)
            {
                _fleetSubscription = _fleet.Subscribe(Reconcile);
            }
        }

        Reconcile();
        return new Subscription(() =>
        {
            lock (_lock)
            {
                _listeners = _listeners.Remove(onEntry);
                if (_listeners.Count == 0)
                {
                    _fleetSubscription?.Dispose();
                    _fleetSubscription = null;
                }
            }

            Reconcile();
        });
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    public async ValueTask DisposeAsync()
    {
        List<Follower> followers;
        lock (_lock)
        {
            _stopped = true;
            _portal.Recorded -= OnPortalRecorded;
            _fleetSubscription?.Dispose();
            _fleetSubscription = null;
            followers = [.. _followers.Values];
            _followers.Clear();
        }

        foreach (var follower in followers)
        {
            await follower.StopAsync();
        }
    }

    /// <summary>Hosts being followed: every host of the fleet while anyone listens, none otherwise.</summary>
    public IReadOnlyCollection<string> Followed
    {
        get
        {
            lock (_lock)
            {
                return [.. _followers.Keys];
            }
        }
    }

    private async Task<(string Host, IReadOnlyList<AuditEntry> Entries, bool Truncated, string? Problem)> ReadHostAsync(AgentHost host, AuditSearch search, int limit, CancellationToken ct)
    {
        if (host.State != HostConnectionState.Connected)
        {
            return (host.Name, [], false, host.LastError is { } error ? $"not connected: {error}" : $"not connected ({host.State})");
        }

        try
        {
            await using var client = _clients.Create(host.Registration.Endpoint);
            var (entries, truncated) = await NewestAuditReader.ReadAsync(client, search.ToAgentFilter(), e => search.Matches(new AuditRow(host.Name, false, e)), limit, ct);
            return (host.Name, entries, truncated, null);
        }
        catch (AgentException e) when (e.Code is "Forbidden" or "Unauthorized")
        {
            return (host.Name, [], false, $"its key may not read the audit trail ({e.Code}): register the host with an Admin key");
        }
        catch (AgentException e)
        {
            return (host.Name, [], false, e.Message);
        }
    }

    private void Reconcile()
    {
        var stopping = new List<Follower>();
        lock (_lock)
        {
            var wanted = _stopped || _listeners.IsEmpty ? [] : _fleet.Hosts.ToDictionary(h => h.Id);
            foreach (var (id, follower) in _followers.Where(f => !wanted.ContainsKey(f.Key)).ToList())
            {
                _followers.Remove(id);
                stopping.Add(follower);
            }

            foreach (var (id, host) in wanted.Where(w => !_followers.ContainsKey(w.Key)))
            {
                var follower = new Follower(host);
                _followers[id] = follower;
                follower.Run = Task.Run(() => FollowHostAsync(follower, follower.Stop.Token));
            }
        }

        foreach (var follower in stopping)
        {
            _ = follower.StopAsync();
        }
    }

    /// <summary>
    /// One host's live stream from the newest entry at its start; after a drop it resubscribes (backoff as for the host's
    /// connection) from the last sequence seen, so nothing recorded in between is lost.
    /// </summary>
    private async Task FollowHostAsync(Follower follower, CancellationToken ct)
    {
        long? after = null;
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            string reason;
            try
            {
                await using var client = _clients.Create(follower.Host.Registration.Endpoint);
                // The first time, start from the newest entry now: what a read after this misses comes on the stream.
                after ??= (await client.ReadAsync(AgentAuditFilter.None, 0, 1, ct)).LastSequence;
                follower.Ready.TrySetResult();
                await foreach (var entry in client.SubscribeAsync(after, ct))
                {
                    after = entry.Sequence;
                    failures = 0;
                    Broadcast(new AuditRow(follower.Host.Name, false, entry));
                }

                reason = "the agent ended the stream";
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                reason = e is AgentException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            }

            // An unreachable host is not waited for: a read names it as missing.
            follower.Ready.TrySetResult();
            failures++;
            var delay = AgentHost.Backoff(failures, _options.ReconnectInitialDelay, _options.ReconnectMaxDelay);
            if (failures == 1)
            {
                _logger.LogWarning("The live audit trail of {Host} stopped: {Reason} Following again in {Delay}.", follower.Host.Name, reason, delay);
            }

            try
            {
                await Task.Delay(delay, _time, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void OnPortalRecorded(AuditEntry entry) => Broadcast(AuditRow.Portal(entry));

    private void Broadcast(AuditRow row)
    {
        foreach (var listener in _listeners)
        {
            try
            {
                listener(row);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "An audit listener failed");
            }
        }
    }

    private sealed class Follower(AgentHost host)
    {
        public AgentHost Host { get; } = host;

        public CancellationTokenSource Stop { get; } = new();

        public Task Run { get; set; } = Task.CompletedTask;

        /// <summary>Done once the stream has its starting point (or the first attempt failed).</summary>
        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task StopAsync()
        {
            await Stop.CancelAsync();
            await Run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Stop.Dispose();
        }
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                dispose();
            }
        }
    }
}
