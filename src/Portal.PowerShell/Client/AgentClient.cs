using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.PowerShell.Client;

/// <summary>
/// The module's one gateway to an agent: REST for commands and queries, the typed hub for streams (interactive exec).
/// Every failure becomes an <see cref="AgentException"/> carrying the agent's code and detail.
/// </summary>
public sealed class AgentClient
{
    public static readonly JsonSerializerOptions Json = AgentTransport.Json;

    // One HTTP client per agent address for the process's life: cmdlets are short, connections are not.
    private static readonly ConcurrentDictionary<AgentConnection, AgentClient> Clients = new();

    private readonly HttpClient _http;

    private AgentClient(AgentConnection connection)
    {
        Connection = connection;
        _http = AgentTransport.CreateHttpClient(connection.BaseAddress, connection.SocketPath, connection.ApiKey);
    }

    public AgentConnection Connection { get; }

    public static AgentClient For(AgentConnection connection) => Clients.GetOrAdd(connection, c => new AgentClient(c));

    public Task<HostInfo> GetHostAsync(CancellationToken ct) => SendAsync<HostInfo>(HttpMethod.Get, "api/host", null, ct);

    public Task<ContainerView[]> ListContainersAsync(CancellationToken ct) => SendAsync<ContainerView[]>(HttpMethod.Get, "api/containers", null, ct);

    public Task<ContainerView> GetContainerAsync(string container, CancellationToken ct) => SendAsync<ContainerView>(HttpMethod.Get, $"api/containers/{Escape(container)}", null, ct);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct) => SendAsync<ContainerInfo>(HttpMethod.Post, "api/containers", spec, ct);

    public Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct) => SendAsync<ContainerInfo>(HttpMethod.Post, $"api/containers/{Escape(container)}/start", null, ct);

    public Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        SendAsync<ContainerInfo>(HttpMethod.Post, $"api/containers/{Escape(container)}/stop{(timeoutSeconds is { } t ? $"?timeout={t.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "")}", null, ct);

    public Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct) => SendAsync<ContainerInfo>(HttpMethod.Post, $"api/containers/{Escape(container)}/terminate", null, ct);

    public Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, CancellationToken ct) =>
        SendAsync<ContainerInfo>(HttpMethod.Post, $"api/containers/{Escape(container)}/convert?runtimeType={runtimeType}&restart={(restart ? "true" : "false")}", null, ct);

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) =>
        SendAsync<JsonElement?>(HttpMethod.Delete, $"api/containers/{Escape(container)}?force={(force ? "true" : "false")}", null, ct);

    public Task<ContainerProcessInfo[]> GetProcessesAsync(string container, CancellationToken ct) => SendAsync<ContainerProcessInfo[]>(HttpMethod.Get, $"api/containers/{Escape(container)}/processes", null, ct);

    public Task<ComputeSystemInfo[]> ListComputeSystemsAsync(CancellationToken ct) => SendAsync<ComputeSystemInfo[]>(HttpMethod.Get, "api/compute-systems", null, ct);

    public Task<SwitchInfo[]> ListSwitchesAsync(CancellationToken ct) => SendAsync<SwitchInfo[]>(HttpMethod.Get, "api/switches", null, ct);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct) => SendAsync<SwitchInfo>(HttpMethod.Post, "api/switches", spec, ct);

    public Task RemoveSwitchAsync(string name, CancellationToken ct) => SendAsync<JsonElement?>(HttpMethod.Delete, $"api/switches/{Escape(name)}", null, ct);

    /// <summary>A hub connection for streams; the caller starts and disposes it.</summary>
    public HubConnection CreateHubConnection() => AgentTransport.CreateHubConnection(Connection.BaseAddress, Connection.SocketPath, Connection.ApiKey);

    /// <summary>Starts a hub connection, mapping failures to AgentUnreachable or the agent's refusal.</summary>
    public async Task<HubConnection> ConnectHubAsync(CancellationToken ct)
    {
        var hub = CreateHubConnection();
        try
        {
            await hub.StartAsync(ct).ConfigureAwait(false);
            return hub;
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            await hub.DisposeAsync().ConfigureAwait(false);
            throw new AgentException(e.StatusCode == HttpStatusCode.Unauthorized ? "Unauthorized" : "Forbidden", $"The agent at {Connection} refused the connection ({(int)e.StatusCode}): pass -ApiKey or set $env:PORTAL_API_KEY.", (int)e.StatusCode, e);
        }
        catch (Exception e) when (e is HttpRequestException or WebSocketException or SocketException or IOException)
        {
            await hub.DisposeAsync().ConfigureAwait(false);
            throw Unreachable(e);
        }
    }

    /// <summary>HubException messages are "Code: message"; split them back into an AgentException.</summary>
    public static AgentException FromHub(HubException e) => AgentException.FromHub(e);

    private Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct) =>
        AgentTransport.SendAsync<T>(_http, method, path, body, Unreachable, ct);

    private AgentException Unreachable(Exception e)
    {
        var hint = Connection.SocketPath is not null
            ? "Start the agent (./deploy/portal up), or pass -AgentUri http://host:5081 -ApiKey pk_..."
            : "Start the agent (./deploy/portal up) or check -AgentUri; run as root to use the local socket /run/portal/agent.sock.";
        var reason = Connection.SocketPath is { } path && !File.Exists(path) ? $"there is no socket at {path}." : e.Message;
        return new AgentException("AgentUnreachable", $"The agent at {Connection} is not reachable: {reason} {hint}", null, e);
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}
