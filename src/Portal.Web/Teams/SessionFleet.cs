using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Portal.Client;
using Portal.Web.Hosts;

namespace Portal.Web.Teams;

/// <summary>
/// The hosts as one circuit's user sees and uses them; pages and dialogs ask this instead of <see cref="Fleet"/>. For a
/// portal administrator it is the shared <see cref="Fleet"/> itself (one connection per host for the whole portal). For
/// a team member it is a connection per host of its own, made with the host's administrator key acting for the member
/// (<see cref="ActingSession.Actor"/>: the hub connection names the team and user at connect, every REST call in
/// headers), so the agent applies the member's role: lists, events, logs and terminals hold only the team's containers,
/// and what the role may not do is refused by the agent, in its words. These connections follow the fleet's hosts and
/// the acting team, and end with the circuit.
/// </summary>
public sealed class SessionFleet : IAsyncDisposable
{
    private readonly Fleet _fleet;
    private readonly ActingSession _session;
    private readonly IAgentClientFactory _clients;
    private readonly PortalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImmutableList<AgentHost> _own = [];
    private ImmutableList<Action> _listeners = [];
    private IDisposable? _fleetSubscription;
    private (TeamActor? Actor, Contracts.TeamRole? Role) _ownFor;
    private bool _started;
    private volatile bool _interactive;
    private bool _disposed;

    public SessionFleet(Fleet fleet, ActingSession session, IAgentClientFactory clients, IOptions<PortalOptions> options, TimeProvider time, ILoggerFactory loggers)
    {
        _fleet = fleet;
        _session = session;
        _clients = clients;
        _options = options.Value;
        _time = time;
        _loggers = loggers;
    }

    public ActingSession Session => _session;

    /// <summary>The shared fleet's hosts for an administrator; this circuit's member connections otherwise (none until loaded).</summary>
    public IReadOnlyList<AgentHost> Hosts
    {
        get
        {
            Start();
            return _session.IsAdministrator ? _fleet.Hosts : _own;
        }
    }

    public AgentHost? Find(string id) => Hosts.FirstOrDefault(h => h.Id == id);

    /// <summary>Calls <paramref name="onChanged"/> (on a background thread) whenever a host changes, hosts come and go, or the acting team changes.</summary>
    public IDisposable Subscribe(Action onChanged)
    {
        Start();
        ImmutableInterlocked.Update(ref _listeners, l => l.Add(onChanged));
        return new Subscription(() => ImmutableInterlocked.Update(ref _listeners, l => l.Remove(onChanged)));
    }

    /// <summary>
    /// The circuit is interactive (a component's first render after prerendering): only now are a member's connections
    /// opened, so a prerendered request does not open and close connections to every host.
    /// </summary>
    public void MarkInteractive()
    {
        if (!_interactive)
        {
            _interactive = true;
            Start();
            _ = SyncAsync();
        }
    }

    /// <summary>Registers a host (administrators only; the Hosts page).</summary>
    public Task<AgentHost> AddAsync(string name, string address, string? apiKey, CancellationToken ct) =>
        _session.IsAdministrator ? _fleet.AddAsync(name, address, apiKey, ct) : throw NotAdministrator();

    public Task RemoveAsync(string id, CancellationToken ct) =>
        _session.IsAdministrator ? _fleet.RemoveAsync(id, ct) : throw NotAdministrator();

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        _session.Changed -= OnSessionChanged;
        _fleetSubscription?.Dispose();
        await _gate.WaitAsync();
        try
        {
            await StopOwnAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Start()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        _session.Changed += OnSessionChanged;
        _fleetSubscription = _fleet.Subscribe(OnFleetChanged);
        _ = _session.LoadAsync();
    }

    private void OnSessionChanged() => _ = SyncAsync();

    private void OnFleetChanged()
    {
        if (_session.IsAdministrator)
        {
            Notify();
            return;
        }

        // Hosts registered or removed: follow them; other fleet changes are the shared view's, not this circuit's.
        var ids = _fleet.Hosts.Select(h => h.Id).ToHashSet();
        if (!ids.SetEquals(_own.Select(h => h.Id)))
        {
            _ = SyncAsync();
        }
    }

    /// <summary>Makes this circuit's connections match the fleet's hosts and the acting team.</summary>
    private async Task SyncAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            var actor = _session.IsAdministrator ? null : _session.Actor;
            // Another team, or another role in it: new connections (the agent takes the member's role at connect).
            var ownFor = (actor, actor is null ? null : _session.Acting?.Role);
            if (ownFor != _ownFor)
            {
                await StopOwnAsync();
                _ownFor = ownFor;
            }

            if (actor is not null && _interactive)
            {
                var registered = _fleet.Hosts.Select(h => h.Registration).ToList();
                foreach (var gone in _own.Where(h => registered.All(r => r.Id != h.Id)).ToList())
                {
                    ImmutableInterlocked.Update(ref _own, l => l.Remove(gone));
                    gone.Changed -= OnOwnChanged;
                    await gone.DisposeAsync();
                }

                foreach (var registration in registered.Where(r => _own.All(h => h.Id != r.Id)))
                {
                    var host = new AgentHost(
                        registration with { Endpoint = registration.Endpoint with { ActingFor = actor } },
                        _clients, _options, _time, _loggers.CreateLogger<AgentHost>());
                    host.Changed += OnOwnChanged;
                    ImmutableInterlocked.Update(ref _own, l => l.Add(host).Sort((a, b) => string.CompareOrdinal(a.Name, b.Name)));
                    host.Start();
                }
            }
        }
        finally
        {
            _gate.Release();
        }

        Notify();
    }

    private async Task StopOwnAsync()
    {
        var own = Interlocked.Exchange(ref _own, []);
        foreach (var host in own)
        {
            host.Changed -= OnOwnChanged;
        }

        await Task.WhenAll(own.Select(h => h.DisposeAsync().AsTask()));
    }

    private void OnOwnChanged(AgentHost host) => Notify();

    private void Notify()
    {
        foreach (var listener in _listeners)
        {
            try
            {
                listener();
            }
            catch (Exception e)
            {
                _loggers.CreateLogger<SessionFleet>().LogError(e, "A session fleet listener failed");
            }
        }
    }

    private static UnauthorizedAccessException NotAdministrator() => new("Only portal administrators manage hosts.");

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
