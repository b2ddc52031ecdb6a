using System.Collections.Immutable;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.Hosts;

/// <summary>
/// The portal's live view of one agent, shared by every circuit: one connection, subscriptions to containers, compute
/// systems and host info, and a statistics sampler. When the connection fails or drops it reconnects after a capped,
/// doubling backoff and starts again from a fresh snapshot (the streaming contract's rule).
/// </summary>
public sealed class AgentHost : IAsyncDisposable
{
    private readonly IAgentClientFactory _clients;
    private readonly PortalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private ImmutableDictionary<string, ContainerView> _containers = ImmutableDictionary<string, ContainerView>.Empty;
    private ImmutableDictionary<string, ComputeSystemInfo> _computeSystems = ImmutableDictionary<string, ComputeSystemInfo>.Empty;
    private ImmutableDictionary<string, ContainerUsage> _usage = ImmutableDictionary<string, ContainerUsage>.Empty;
    private volatile IAgentClient? _client;
    private Task _run = Task.CompletedTask;

    public AgentHost(RegisteredHost host, IAgentClientFactory clients, PortalOptions options, TimeProvider time, ILogger logger)
    {
        Registration = host;
        _clients = clients;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public RegisteredHost Registration { get; }

    public string Id => Registration.Id;

    public string Name => Registration.Name;

    public HostConnectionState State { get; private set; } = HostConnectionState.Connecting;

    /// <summary>Why the last attempt failed or the connection dropped, as the agent or the network said it.</summary>
    public string? LastError { get; private set; }

    /// <summary>When the next attempt starts while reconnecting.</summary>
    public DateTimeOffset? NextAttemptAt { get; private set; }

    /// <summary>Failed attempts since the last successful connection.</summary>
    public int FailedAttempts { get; private set; }

    public DateTimeOffset? ConnectedSince { get; private set; }

    public HostInfo? Info { get; private set; }

    public IReadOnlyDictionary<string, ContainerView> Containers => _containers;

    public IReadOnlyDictionary<string, ComputeSystemInfo> ComputeSystems => _computeSystems;

    public IReadOnlyDictionary<string, ContainerUsage> Usage => _usage;

    /// <summary>Raised (on a background thread) each time the connection is up and its first snapshot is in.</summary>
    public event Action<AgentHost>? Connected;

    /// <summary>Raised (on a background thread) after the host's state, info, containers or statistics changed.</summary>
    public event Action<AgentHost>? Changed;

    /// <summary>The connected client for commands and streams; a clear AgentUnreachable error while there is none.</summary>
    public IAgentClient Client => _client is { } client && State == HostConnectionState.Connected
        ? client
        : throw new AgentException(AgentException.Unreachable, $"Host '{Name}' is not connected{(LastError is null ? "" : $" ({LastError})")}. Wait until it reconnects, or check the host on the Hosts page.");

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        State = HostConnectionState.Stopped;
        _stop.Dispose();
    }

    /// <summary>The wait before attempt <paramref name="failures"/> + 1: the initial delay doubled per failure, capped.</summary>
    public static TimeSpan Backoff(int failures, TimeSpan initial, TimeSpan max)
    {
        var factor = Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        return TimeSpan.FromTicks((long)Math.Min(max.Ticks, initial.Ticks * factor));
    }

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var error = await ConnectOnceAsync(ct);
            if (ct.IsCancellationRequested)
            {
                break;
            }

            FailedAttempts++;
            var delay = Backoff(FailedAttempts, _options.ReconnectInitialDelay, _options.ReconnectMaxDelay);
            State = HostConnectionState.Reconnecting;
            LastError = error;
            ConnectedSince = null;
            NextAttemptAt = _time.GetUtcNow() + delay;
            _logger.LogWarning("Host {Host} ({Endpoint}) is not connected: {Error} Reconnecting in {Delay}.", Name, Registration.Endpoint, error, delay);
            Raise();
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

    /// <summary>One connection's life: connect, subscribe, serve until something ends; returns why it ended.</summary>
    private async Task<string> ConnectOnceAsync(CancellationToken ct)
    {
        var client = _clients.Create(Registration.Endpoint);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Closed += e =>
        {
            closed.TrySetResult(e is null ? "the connection closed" : $"the connection dropped: {e.Message}");
            return Task.CompletedTask;
        };
        try
        {
            await client.ConnectAsync(session.Token);
            _client = client;
            Task[] work =
            [
                FollowContainersAsync(client, session.Token),
                FollowComputeSystemsAsync(client, session.Token),
                FollowHostAsync(client, session.Token),
                SampleStatisticsAsync(client, session.Token),
            ];
            var ended = await Task.WhenAny([.. work, closed.Task]);
            await session.CancelAsync();
            var reason = ended == closed.Task ? closed.Task.Result : Reason(ended);
            await Task.WhenAll(work).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return reason;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return e is AgentException ? e.Message : $"{e.GetType().Name}: {e.Message}";
        }
        catch (OperationCanceledException)
        {
            return "stopped";
        }
        finally
        {
            _client = null;
            await client.DisposeAsync();
        }
    }

    private static string Reason(Task ended) => ended.Exception?.GetBaseException() switch
    {
        AgentException e => e.Message,
        { } e => $"{e.GetType().Name}: {e.Message}",
        null => "the agent ended a subscription",
    };

    private async Task FollowContainersAsync(IAgentClient client, CancellationToken ct)
    {
        await foreach (var batch in client.SubscribeContainersAsync(ct))
        {
            _containers = Apply(batch.IsSnapshot ? ImmutableDictionary<string, ContainerView>.Empty : _containers, batch);
            foreach (var change in batch.Changes.Where(c => c.Kind == ChangeKind.Delete))
            {
                _usage = _usage.Remove(change.Key);
            }

            if (batch.IsSnapshot)
            {
                _usage = _usage.RemoveRange(_usage.Keys.Where(k => !_containers.ContainsKey(k)));
                MarkConnected();
            }

            Raise();
        }
    }

    private async Task FollowComputeSystemsAsync(IAgentClient client, CancellationToken ct)
    {
        await foreach (var batch in client.SubscribeComputeSystemsAsync(ct))
        {
            _computeSystems = Apply(batch.IsSnapshot ? ImmutableDictionary<string, ComputeSystemInfo>.Empty : _computeSystems, batch);
            Raise();
        }
    }

    private async Task FollowHostAsync(IAgentClient client, CancellationToken ct)
    {
        await foreach (var info in client.SubscribeHostAsync(ct))
        {
            Info = info;
            Raise();
        }
    }

    /// <summary>
    /// CPU and memory of every running container, one call per interval for the whole host; CPU percent from the
    /// difference of two samples.
    /// </summary>
    private async Task SampleStatisticsAsync(IAgentClient client, CancellationToken ct)
    {
        IReadOnlyDictionary<string, ContainerStatistics> previous = new Dictionary<string, ContainerStatistics>();
        using var timer = new PeriodicTimer(_options.StatisticsInterval, _time);
        do
        {
            if (!_containers.Values.Any(v => v.Container.State == ContainerState.Running))
            {
                if (!_usage.IsEmpty)
                {
                    _usage = _usage.Clear();
                    Raise();
                }

                continue;
            }

            IReadOnlyDictionary<string, ContainerStatistics> samples;
            try
            {
                samples = await client.GetAllStatisticsAsync(ct);
            }
            catch (AgentException e) when (e.Code != AgentException.Unreachable)
            {
                // A failed round keeps the last values; the connection and its subscriptions carry on.
                _logger.LogWarning("No statistics from {Host} this round: {Error}", Name, e.Message);
                continue;
            }

            var usage = ImmutableDictionary.CreateBuilder<string, ContainerUsage>();
            foreach (var (id, now) in samples)
            {
                double? cpu = previous.TryGetValue(id, out var before) && now.Timestamp > before.Timestamp
                    ? Math.Max(0, (now.CpuSeconds - before.CpuSeconds) / (now.Timestamp - before.Timestamp).TotalSeconds * 100)
                    : null;
                usage[id] = new ContainerUsage(cpu, now.MemoryBytes, now.MemoryLimitBytes, now.Pids, now.Timestamp);
            }

            previous = samples;
            _usage = usage.ToImmutable();
            Raise();
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    private void MarkConnected()
    {
        if (State != HostConnectionState.Connected)
        {
            State = HostConnectionState.Connected;
            ConnectedSince = _time.GetUtcNow();
            FailedAttempts = 0;
            LastError = null;
            NextAttemptAt = null;
            _logger.LogInformation("Host {Host} ({Endpoint}) connected", Name, Registration.Endpoint);
            try
            {
                Connected?.Invoke(this);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "A listener of host {Host}'s connection failed", Name);
            }
        }
    }

    private static ImmutableDictionary<string, T> Apply<T>(ImmutableDictionary<string, T> items, ChangeBatch<T> batch)
    {
        var builder = items.ToBuilder();
        foreach (var change in batch.Changes)
        {
            if (change.Kind == ChangeKind.Delete || change.Item is null)
            {
                builder.Remove(change.Key);
            }
            else
            {
                builder[change.Key] = change.Item;
            }
        }

        return builder.ToImmutable();
    }

    private void Raise()
    {
        try
        {
            Changed?.Invoke(this);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A listener of host {Host} failed", Name);
        }
    }
}
