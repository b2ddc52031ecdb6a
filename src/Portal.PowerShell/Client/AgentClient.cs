using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.PowerShell.Client;

/// <summary>
/// The module's one gateway to an agent: REST for commands and queries, the typed hub for streams (interactive exec).
/// Every failure becomes an <see cref="AgentException"/> carrying the agent's code and detail.
/// </summary>
public sealed class AgentClient
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    // One HTTP client per agent address for the process's life: cmdlets are short, connections are not.
    private static readonly ConcurrentDictionary<AgentConnection, AgentClient> Clients = new();

    private readonly HttpClient _http;

    private AgentClient(AgentConnection connection)
    {
        Connection = connection;
        _http = new HttpClient(CreateHandler(connection)) { BaseAddress = connection.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (connection.ApiKey is { } key)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
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
    public HubConnection CreateHubConnection()
    {
        var connection = Connection;
        return new HubConnectionBuilder()
            .WithUrl(new Uri(connection.BaseAddress, "hubs/agent"), options =>
            {
                if (connection.ApiKey is { } key)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(key);
                }

                if (connection.SocketPath is not null)
                {
                    options.HttpMessageHandlerFactory = _ => CreateHandler(connection);
                    // The websocket upgrade goes over the same unix socket.
                    options.WebSocketFactory = async (context, ct) =>
                    {
                        var socket = new ClientWebSocket();
                        try
                        {
                            await socket.ConnectAsync(context.Uri, new HttpMessageInvoker(CreateHandler(connection)), ct).ConfigureAwait(false);
                            return socket;
                        }
                        catch
                        {
                            socket.Dispose();
                            throw;
                        }
                    };
                }
            })
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
    }

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
    public static AgentException FromHub(HubException e)
    {
        var message = e.Message;
        const string prefix = "An unexpected error occurred invoking";
        var separator = message.IndexOf(": ", StringComparison.Ordinal);
        if (separator > 0 && !message.StartsWith(prefix, StringComparison.Ordinal) && !message[..separator].Contains(' ', StringComparison.Ordinal))
        {
            return new AgentException(message[..separator], message[(separator + 2)..], null, e);
        }

        return new AgentException("RuntimeFailure", message, null, e);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ProblemAsync(response, ct).ConfigureAwait(false);
            }

            if (response.StatusCode == HttpStatusCode.NoContent || response.Content.Headers.ContentLength == 0)
            {
                return default!;
            }

            return (await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false))!;
        }
    }

    private static async Task<AgentException> ProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? code = null;
        string? detail = null;
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            code = root.TryGetProperty("code", out var c) ? c.GetString() : root.TryGetProperty("title", out var t) ? t.GetString() : null;
            detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
        }

        code ??= response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => "Unauthorized",
            HttpStatusCode.Forbidden => "Forbidden",
            HttpStatusCode.NotFound => "ContainerNotFound",
            _ => "RuntimeFailure",
        };
        return new AgentException(code, detail ?? (text.Length > 0 ? text : $"The agent answered {status} {response.ReasonPhrase}."), status);
    }

    private AgentException Unreachable(Exception e)
    {
        var hint = Connection.SocketPath is not null
            ? "Start the agent (./deploy/portal up), or pass -AgentUri http://host:5081 -ApiKey pk_..."
            : "Start the agent (./deploy/portal up) or check -AgentUri; run as root to use the local socket /run/portal/agent.sock.";
        var reason = Connection.SocketPath is { } path && !File.Exists(path) ? $"there is no socket at {path}." : e.Message;
        return new AgentException("AgentUnreachable", $"The agent at {Connection} is not reachable: {reason} {hint}", null, e);
    }

    private static SocketsHttpHandler CreateHandler(AgentConnection connection)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        if (connection.SocketPath is { } path)
        {
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return handler;
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}
