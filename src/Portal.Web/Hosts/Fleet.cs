using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Portal.Client;

namespace Portal.Web.Hosts;

/// <summary>
/// Every registered agent's live view (<see cref="AgentHost"/>), one per host for the whole portal, and the one place
/// pages learn that something changed: they take an <see cref="IDisposable"/> subscription (eShop's notification style).
/// </summary>
public sealed class Fleet(
    HostRegistry registry,
    IAgentClientFactory clients,
    IOptions<PortalOptions> options,
    TimeProvider time,
    ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<Fleet>();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImmutableList<AgentHost> _hosts = [];
    private ImmutableList<Action> _listeners = [];

    public IReadOnlyList<AgentHost> Hosts => _hosts;

    /// <summary>Raised (on a background thread) each time a host connects or reconnects (teams are pushed then).</summary>
    public event Action<AgentHost>? HostConnected;

    public AgentHost? Find(string id) => _hosts.Find(h => h.Id == id);

    /// <summary>Calls <paramref name="onChanged"/> (on a background thread) whenever any host changes or hosts come and go.</summary>
    public IDisposable Subscribe(Action onChanged)
    {
        ImmutableInterlocked.Update(ref _listeners, l => l.Add(onChanged));
        return new Subscription(() => ImmutableInterlocked.Update(ref _listeners, l => l.Remove(onChanged)));
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var host in await registry.ListAsync(cancellationToken))
        {
            Track(host);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    /// <summary>Registers and connects an agent; the registry's ArgumentException says what to fix.</summary>
    public async Task<AgentHost> AddAsync(string name, string address, string? apiKey, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            return Track(await registry.AddAsync(name, address, apiKey, ct));
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await registry.RemoveAsync(id, ct);
            if (Find(id) is { } host)
            {
                ImmutableInterlocked.Update(ref _hosts, h => h.Remove(host));
                host.Changed -= OnHostChanged;
                host.Connected -= OnHostConnected;
                await host.DisposeAsync();
                Notify();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        var hosts = Interlocked.Exchange(ref _hosts, []);
        foreach (var host in hosts)
        {
            host.Changed -= OnHostChanged;
            host.Connected -= OnHostConnected;
        }

        await Task.WhenAll(hosts.Select(h => h.DisposeAsync().AsTask()));
    }

    private AgentHost Track(RegisteredHost registration)
    {
        var host = new AgentHost(registration, clients, options.Value, time, loggers.CreateLogger<AgentHost>());
        host.Changed += OnHostChanged;
        host.Connected += OnHostConnected;
        ImmutableInterlocked.Update(ref _hosts, h => h.Add(host).Sort((a, b) => string.CompareOrdinal(a.Name, b.Name)));
        host.Start();
        Notify();
        return host;
    }

    private void OnHostChanged(AgentHost host) => Notify();

    private void OnHostConnected(AgentHost host) => HostConnected?.Invoke(host);

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
                _logger.LogError(e, "A fleet listener failed");
            }
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
