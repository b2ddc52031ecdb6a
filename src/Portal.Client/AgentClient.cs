using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Client;

/// <summary>The real client: the typed hub at /hubs/agent and the REST API under /api, over TCP with a key or the unix socket.</summary>
public sealed class AgentClient : IAgentClient
{
    private readonly HttpClient _http;
    private readonly HubConnection _hub;

    /// <param name="endpoint">Where the agent is and the key.</param>
    /// <param name="userAgent">The client's product ("Portal.PowerShell/1.0"): the agent's audit trail names the entry point by it.</param>
    public AgentClient(AgentEndpoint endpoint, string? userAgent = null)
    {
        Endpoint = endpoint;
        _http = AgentTransport.CreateHttpClient(endpoint.BaseAddress, endpoint.SocketPath, endpoint.ApiKey, userAgent, endpoint.ActingFor);
        _hub = AgentTransport.CreateHubConnection(endpoint.BaseAddress, endpoint.SocketPath, endpoint.ApiKey, userAgent, endpoint.ActingFor);
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
            throw new AgentException("Unauthorized", $"The agent at {Endpoint} refused the API key (401): check the key, or issue a new one on that host (POST /api/keys).", 401, e);
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.BadRequest && Endpoint.ActingFor is { } actor)
        {
            throw new AgentException("Forbidden", $"The agent at {Endpoint} refused to act for {actor} ({(int)e.StatusCode!}): the team or the member is not on that host yet (the portal pushes teams when they change and when a host connects).", (int)e.StatusCode!, e);
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

    public async Task<IReadOnlyList<ContainerView>> ListContainersAsync(CancellationToken ct) =>
        await SendAsync<ContainerView[]>(HttpMethod.Get, "api/containers", null, ct).ConfigureAwait(false);

    public Task<ContainerView> GetContainerAsync(string container, CancellationToken ct) =>
        SendAsync<ContainerView>(HttpMethod.Get, $"api/containers/{Uri.EscapeDataString(container)}", null, ct);

    public async Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string container, CancellationToken ct) =>
        await SendAsync<ContainerProcessInfo[]>(HttpMethod.Get, $"api/containers/{Uri.EscapeDataString(container)}/processes", null, ct).ConfigureAwait(false);

    public async Task<IReadOnlyList<ComputeSystemInfo>> ListComputeSystemsAsync(CancellationToken ct) =>
        await SendAsync<ComputeSystemInfo[]>(HttpMethod.Get, "api/compute-systems", null, ct).ConfigureAwait(false);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.CreateContainer), [spec], ct);

    public async Task<ContainerCreateResult> CreateContainerWithWarningsAsync(ContainerCreateSpec spec, CancellationToken ct)
    {
        try
        {
            return await Invoke<ContainerCreateResult>(nameof(IAgentHub.CreateContainerWithWarnings), [spec], ct).ConfigureAwait(false);
        }
        catch (AgentException e) when (e.IsUnknownHubMethod)
        {
            // An agent from before the method: create without warnings.
            return new ContainerCreateResult { Container = await CreateContainerAsync(spec, ct).ConfigureAwait(false) };
        }
    }

    public Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.StartContainer), [container], ct);

    public Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.StopContainer), [container, timeoutSeconds], ct);

    public Task KillContainerAsync(string container, int signal, CancellationToken ct) =>
        Invoke(nameof(IAgentHub.KillContainer), [container, signal], ct);

    public Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct) =>
        SendAsync<ContainerInfo>(HttpMethod.Post, $"api/containers/{Uri.EscapeDataString(container)}/terminate", null, ct);

    public Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Invoke<ContainerInfo>(nameof(IAgentHub.RestartContainer), [container, timeoutSeconds], ct);

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) =>
        Invoke(nameof(IAgentHub.RemoveContainer), [container, force], ct);

    public async Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct) =>
        (await ConvertContainerWithWarningsAsync(container, runtimeType, restart, progress, ct).ConfigureAwait(false)).Container;

    public async Task<(ContainerInfo Container, IReadOnlyList<string> Warnings)> ConvertContainerWithWarningsAsync(
        string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct)
    {
        await foreach (var update in Stream<ConversionUpdate>(nameof(IAgentHub.ConvertContainer), [container, runtimeType, restart], ct).ConfigureAwait(false))
        {
            if (update.Container is { } converted)
            {
                return (converted, update.Warnings ?? []);
            }

            if (update.Step is { } step)
            {
                progress?.Report(step);
            }
        }

        throw new AgentException(AgentException.Unreachable, $"The agent ended the conversion of '{container}' without saying how it went; check the container's runtime type.");
    }

    public async Task<ImageInfo> PullImageAsync(ImagePullRequest request, IProgress<ImagePullUpdate>? progress, CancellationToken ct)
    {
        await foreach (var update in Stream<ImagePullUpdate>(nameof(IAgentHub.PullImage), [request], ct).ConfigureAwait(false))
        {
            if (update.Image is { } image)
            {
                return image;
            }

            progress?.Report(update);
        }

        throw new AgentException(AgentException.Unreachable, $"The agent ended the pull of '{request.Reference}' without saying how it went; list the images to see.");
    }

    public IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        Stream<ProcessOutput>(nameof(IAgentHub.Exec), [container, start, input], ct);

    public IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        Stream<ProcessOutput>(nameof(IAgentHub.Attach), [container, input], ct);

    public Task<HostInfo> GetHostAsync(CancellationToken ct) => SendAsync<HostInfo>(HttpMethod.Get, "api/host", null, ct);

    public async Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct) =>
        await SendAsync<HostProcessInfo[]>(HttpMethod.Get, match is null ? "api/host/processes" : $"api/host/processes?match={Uri.EscapeDataString(match)}", null, ct).ConfigureAwait(false);

    public Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct) =>
        SendAsync<ContainerStatistics>(HttpMethod.Get, $"api/containers/{Uri.EscapeDataString(container)}/stats", null, ct);

    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct) =>
        await SendAsync<Dictionary<string, ContainerStatistics>>(HttpMethod.Get, "api/stats", null, ct).ConfigureAwait(false);

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

    public Task<IReadOnlyList<SwitchInfo>> ListSwitchesAsync(CancellationToken ct) =>
        Invoke<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches), [], ct);

    public IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesAsync(CancellationToken ct) =>
        Stream<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.SubscribeSwitches), [], ct);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct) =>
        Invoke<SwitchInfo>(nameof(IAgentHub.CreateSwitch), [spec], ct);

    public Task RemoveSwitchAsync(string name, CancellationToken ct) =>
        Invoke(nameof(IAgentHub.RemoveSwitch), [name], ct);

    public Task<TeamInfo> PutTeamAsync(TeamInfo team, CancellationToken ct) =>
        SendAsync<TeamInfo>(HttpMethod.Put, $"api/teams/{Uri.EscapeDataString(team.Name)}", team, ct);

    public async Task<IReadOnlyList<TeamInfo>> ListTeamsAsync(CancellationToken ct) =>
        await SendAsync<List<TeamInfo>>(HttpMethod.Get, "api/teams", null, ct).ConfigureAwait(false) ?? [];

    public async Task RemoveTeamAsync(string team, CancellationToken ct)
    {
        try
        {
            await SendAsync<object?>(HttpMethod.Delete, $"api/teams/{Uri.EscapeDataString(team)}", null, ct).ConfigureAwait(false);
        }
        catch (AgentException e) when (e.Code == "TeamNotFound")
        {
            // Already gone: what the caller wanted.
        }
    }

    public Task<TeamUsage> GetTeamUsageAsync(string team, CancellationToken ct) =>
        SendAsync<TeamUsage>(HttpMethod.Get, $"api/teams/{Uri.EscapeDataString(team)}/usage", null, ct);

    public Task<byte[]> IssueDockerContextAsync(string team, string user, string context, CancellationToken ct) =>
        SendAsync<byte[]>(HttpMethod.Post, $"api/teams/{Uri.EscapeDataString(team)}/certificates?format=context&context={Uri.EscapeDataString(context)}", new { user }, ct);

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
        catch (Exception e) when (IsConnectionLoss(e))
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
        catch (Exception e) when (IsConnectionLoss(e))
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
                catch (Exception e) when (IsConnectionLoss(e))
                {
                    throw UnreachableError(e);
                }

                yield return items.Current;
            }
        }
    }

    private Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct) =>
        AgentTransport.SendAsync<T>(_http, method, path, body, UnreachableError, ct);

    /// <summary>The connection went (or was never there) while a call ran: the caller hears AgentUnreachable, not a transport error.</summary>
    private bool IsConnectionLoss(Exception e) =>
        e is IOException or WebSocketException or SocketException or HttpRequestException
        || (e is InvalidOperationException && _hub.State != HubConnectionState.Connected);

    private AgentException UnreachableError(Exception e)
    {
        var reason = Endpoint.SocketPath is { } path && !File.Exists(path) ? $"there is no socket at {path}" : e.Message;
        var hint = Endpoint.SocketPath is not null
            ? "Start the agent (./deploy/portal up); the local socket needs root (or the agent's socket group)."
            : "Check that the agent runs and that the address is right.";
        return new AgentException(AgentException.Unreachable, $"The agent at {Endpoint} is not reachable: {reason}. {hint}", null, e);
    }
}

/// <summary>Makes real clients that name themselves with <paramref name="userAgent"/> (the PowerShell module's, the portal's).</summary>
public sealed class AgentClientFactory(string? userAgent = null) : IAgentClientFactory
{
    public IAgentClient Create(AgentEndpoint endpoint) => new AgentClient(endpoint, userAgent);

    /// <summary>"&lt;product&gt;/&lt;version of the assembly of T&gt;".</summary>
    public static string UserAgentOf<T>(string product) => $"{product}/{typeof(T).Assembly.GetName().Version?.ToString(2) ?? "0"}";
}
