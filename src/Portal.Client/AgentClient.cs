using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Client;

/// <summary>The real client: the typed hub at /hubs/agent and the REST API under /api, over TCP with a key or the unix socket.</summary>
public sealed class AgentClient : IAgentClient
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly HttpClient _http;
    private readonly HubConnection _hub;

    public AgentClient(AgentEndpoint endpoint)
    {
        Endpoint = endpoint;
        _http = new HttpClient(AgentTransport.CreateHandler(endpoint)) { BaseAddress = endpoint.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (endpoint.ApiKey is { } key)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        _hub = new HubConnectionBuilder()
            .WithUrl(new Uri(endpoint.BaseAddress, "hubs/agent"), options =>
            {
                if (endpoint.ApiKey is { } apiKey)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(apiKey);
                }

                if (endpoint.SocketPath is not null)
                {
                    options.HttpMessageHandlerFactory = _ => AgentTransport.CreateHandler(endpoint);
                    options.WebSocketFactory = (context, ct) => AgentTransport.ConnectWebSocketAsync(endpoint, context.Uri, ct);
                }
            })
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
        _hub.Closed += e => Closed?.Invoke(e) ?? Task.CompletedTask;
    }

    public AgentEndpoint Endpoint { get; }

    public event Func<Exception?, Task>? Closed;

    public async Task ConnectAsync(CancellationToken ct)
    {
        try
        {
            await _hub.StartAsync(ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Unauthorized)
        {
            throw new AgentException("Unauthorized", $"The agent at {Endpoint} refused the API key (401): check the key, or issue a new one on that host (POST /api/keys) and update the host.", 401, e);
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Forbidden)
        {
            throw new AgentException("Forbidden", $"The agent at {Endpoint} refused the connection (403): the key's scope is too narrow; use an Operate or Admin key.", 403, e);
        }
        catch (Exception e) when (e is HttpRequestException or WebSocketException or SocketException or IOException)
        {
            throw UnreachableError(e);
        }
    }

    public IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersAsync(CancellationToken ct) =>
        Stream<ChangeBatch<ContainerView>>(nameof(IAgentHub.SubscribeContainers), [], ct);

    public IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsAsync(CancellationToken ct) =>
        Stream<ChangeBatch<ComputeSystemInfo>>(nameof(IAgentHub.SubscribeComputeSystems), [], ct);

    public IAsyncEnumerable<HostInfo> SubscribeHostAsync(CancellationToken ct) => Stream<HostInfo>(nameof(IAgentHub.SubscribeHost), [], ct);

    public IAsyncEnumerable<ContainerEvent> SubscribeEventsAsync(CancellationToken ct) => Stream<ContainerEvent>(nameof(IAgentHub.SubscribeEvents), [], ct);

    public IAsyncEnumerable<IsolationView> SubscribeProcessesAsync(string container, CancellationToken ct) =>
        Stream<IsolationView>(nameof(IAgentHub.SubscribeProcesses), [container], ct);

    public IAsyncEnumerable<LogEntry> LogsAsync(string container, int? tail, bool follow, CancellationToken ct) =>
        Stream<LogEntry>(nameof(IAgentHub.Logs), [container, tail, follow], ct);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.CreateContainer), [spec], ct);

    public Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.StartContainer), [container], ct);

    public Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.StopContainer), [container, timeoutSeconds], ct);

    public Task KillContainerAsync(string container, int signal, CancellationToken ct) =>
        Invoke(nameof(IAgentHub.KillContainer), [container, signal], ct);

    public Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.RestartContainer), [container, timeoutSeconds], ct);

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) =>
        Invoke(nameof(IAgentHub.RemoveContainer), [container, force], ct);

    public Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.ConvertContainer), [container, runtimeType, restart], ct);

    public IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        Stream<ProcessOutput>(nameof(IAgentHub.Exec), [container, start, input], ct);

    public IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        Stream<ProcessOutput>(nameof(IAgentHub.Attach), [container, input], ct);

    public Task<HostInfo> GetHostAsync(CancellationToken ct) => SendAsync<HostInfo>(HttpMethod.Get, "api/host", null, ct);

    public async Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct) =>
        await SendAsync<HostProcessInfo[]>(HttpMethod.Get, match is null ? "api/host/processes" : $"api/host/processes?match={Uri.EscapeDataString(match)}", null, ct).ConfigureAwait(false);

    public Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct) =>
        SendAsync<ContainerStatistics>(HttpMethod.Get, $"api/containers/{Uri.EscapeDataString(container)}/stats", null, ct);

    public async Task<IReadOnlyList<ImageInfo>> ListImagesAsync(CancellationToken ct) =>
        await SendAsync<ImageInfo[]>(HttpMethod.Get, "api/images", null, ct).ConfigureAwait(false);

    public async Task<IReadOnlyList<ImageInfo>> ImportImageAsync(Stream archive, long? length, string? tag, IProgress<long>? progress, CancellationToken ct)
    {
        var content = new ProgressStreamContent(archive, progress);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        if (length is { } l)
        {
            content.Headers.ContentLength = l;
        }

        var path = string.IsNullOrWhiteSpace(tag) ? "api/images" : $"api/images?tag={Uri.EscapeDataString(tag.Trim())}";
        return await SendAsync<ImageInfo[]>(HttpMethod.Post, path, content, ct).ConfigureAwait(false);
    }

    public Task RemoveImageAsync(string image, CancellationToken ct) =>
        SendAsync<JsonElement?>(HttpMethod.Delete, $"api/images/{string.Join('/', image.Split('/').Select(Uri.EscapeDataString))}", null, ct);

    public async ValueTask DisposeAsync()
    {
        await _hub.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
    }

    private async Task<T> Invoke<T>(string method, object?[] args, CancellationToken ct)
    {
        try
        {
            return await _hub.InvokeCoreAsync<T>(method, args, ct).ConfigureAwait(false);
        }
        catch (HubException e)
        {
            throw AgentException.FromHub(e);
        }
        catch (InvalidOperationException e) when (_hub.State != HubConnectionState.Connected)
        {
            throw UnreachableError(e);
        }
    }

    private async Task Invoke(string method, object?[] args, CancellationToken ct)
    {
        try
        {
            await _hub.InvokeCoreAsync(method, args, ct).ConfigureAwait(false);
        }
        catch (HubException e)
        {
            throw AgentException.FromHub(e);
        }
        catch (InvalidOperationException e) when (_hub.State != HubConnectionState.Connected)
        {
            throw UnreachableError(e);
        }
    }

    /// <summary>A hub stream whose errors arrive as AgentExceptions (a yield cannot sit in a try with a catch, so step by hand).</summary>
    private async IAsyncEnumerable<T> Stream<T>(string method, object?[] args, [EnumeratorCancellation] CancellationToken ct)
    {
        IAsyncEnumerator<T> items;
        try
        {
            items = _hub.StreamAsyncCore<T>(method, args, ct).GetAsyncEnumerator(ct);
        }
        catch (InvalidOperationException e)
        {
            throw UnreachableError(e);
        }

        await using (items.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await items.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (HubException e)
                {
                    throw AgentException.FromHub(e);
                }
                catch (InvalidOperationException e) when (_hub.State != HubConnectionState.Connected)
                {
                    throw UnreachableError(e);
                }

                yield return items.Current;
            }
        }
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Content = body switch
        {
            null => null,
            HttpContent content => content,
            _ => JsonContent.Create(body, body.GetType(), options: Json),
        };

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw UnreachableError(e);
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

    /// <summary>The agent's problem document (code and detail) as an AgentException.</summary>
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
            // Not a problem document: the raw text is the message.
        }

        code ??= response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => "Unauthorized",
            HttpStatusCode.Forbidden => "Forbidden",
            HttpStatusCode.NotFound => "NotFound",
            _ => "RuntimeFailure",
        };
        return new AgentException(code, detail ?? (text.Length > 0 ? text : $"The agent answered {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}."), status);
    }

    private AgentException UnreachableError(Exception e)
    {
        var reason = Endpoint.SocketPath is { } path && !File.Exists(path) ? $"there is no socket at {path}" : e.Message;
        var hint = Endpoint.SocketPath is not null
            ? "Start the agent (./deploy/portal up); the portal must run as root to use the local socket."
            : "Check that the agent runs and that the address is right.";
        return new AgentException(AgentException.Unreachable, $"The agent at {Endpoint} is not reachable: {reason}. {hint}", null, e);
    }
}

/// <summary>Makes real clients.</summary>
public sealed class AgentClientFactory : IAgentClientFactory
{
    public IAgentClient Create(AgentEndpoint endpoint) => new AgentClient(endpoint);
}
