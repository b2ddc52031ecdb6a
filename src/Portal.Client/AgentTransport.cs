using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Client;

/// <summary>
/// HTTP and websocket plumbing for an agent: over TCP as usual, over the agent's unix socket when one is given. Shared by
/// every .NET client of the agent (the portal, the PowerShell module).
/// </summary>
public static class AgentTransport
{
    /// <summary>The agent's JSON: web defaults, enums by name.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// One REST call: <paramref name="body"/> as JSON (or as is when it is HttpContent), the answer read as <typeparamref name="T"/>
    /// (default for 204; the bytes themselves for byte[]), a failed answer as the agent's AgentException, a failed connection as <paramref name="unreachable"/> says.
    /// </summary>
    public static async Task<T> SendAsync<T>(HttpClient http, HttpMethod method, string path, object? body, Func<HttpRequestException, AgentException> unreachable, CancellationToken ct)
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
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw unreachable(e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await AgentException.FromResponseAsync(response, ct).ConfigureAwait(false);
            }

            if (response.StatusCode == HttpStatusCode.NoContent || response.Content.Headers.ContentLength == 0)
            {
                return default!;
            }

            if (typeof(T) == typeof(byte[]))
            {
                return (T)(object)await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false); // an archive, not JSON
            }

            return (await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false))!;
        }
    }

    /// <summary>An HTTP client for the REST API: no timeout of its own (logs follow, imports take long), the key as a bearer token.</summary>
    /// <remarks><paramref name="userAgent"/> ("Portal.PowerShell/1.0") names the client, so the agent's audit trail records its entry point.</remarks>
    public static HttpClient CreateHttpClient(Uri baseAddress, string? socketPath, string? apiKey, string? userAgent = null, TeamActor? actingFor = null)
    {
        var http = new HttpClient(CreateHandler(socketPath)) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (userAgent is { } product)
        {
            http.DefaultRequestHeaders.UserAgent.ParseAdd(product);
        }

        if (apiKey is { } key)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (actingFor is { } actor)
        {
            http.DefaultRequestHeaders.Add(TeamActor.TeamHeader, actor.Team);
            http.DefaultRequestHeaders.Add(TeamActor.UserHeader, actor.User);
        }

        return http;
    }

    /// <summary>A connection to the agent's hub (/hubs/agent), not started: the key as its access token, the socket as its transport.</summary>
    /// <remarks>An <paramref name="actingFor"/> member is named in the query at connect: the connection acts for them throughout.</remarks>
    public static HubConnection CreateHubConnection(Uri baseAddress, string? socketPath, string? apiKey, string? userAgent = null, TeamActor? actingFor = null) =>
        new HubConnectionBuilder()
            .WithUrl(HubAddress(baseAddress, actingFor), options =>
            {
                if (userAgent is { } product)
                {
                    options.Headers["User-Agent"] = product;
                }

                if (apiKey is { } key)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(key);
                }

                if (socketPath is { } path)
                {
                    options.HttpMessageHandlerFactory = _ => CreateHandler(path);
                    // The websocket upgrade goes over the same unix socket.
                    options.WebSocketFactory = (context, ct) => ConnectWebSocketAsync(path, context.Uri, ct, userAgent);
                }
            })
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();

    private static Uri HubAddress(Uri baseAddress, TeamActor? actingFor) => actingFor is { } actor
        ? new Uri(baseAddress, $"hubs/agent?{TeamActor.TeamQuery}={Uri.EscapeDataString(actor.Team)}&{TeamActor.UserQuery}={Uri.EscapeDataString(actor.User)}")
        : new Uri(baseAddress, "hubs/agent");

    /// <summary>A handler that connects to <paramref name="socketPath"/> when given, else over TCP.</summary>
    public static SocketsHttpHandler CreateHandler(string? socketPath)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        if (socketPath is { } path)
        {
            handler.ConnectCallback = (_, ct) => ConnectUnixAsync(path, ct);
        }

        return handler;
    }

    /// <summary>A websocket whose connection goes over the unix socket (the hub's transport upgrade).</summary>
    public static async ValueTask<WebSocket> ConnectWebSocketAsync(string socketPath, Uri uri, CancellationToken ct, string? userAgent = null)
    {
        var socket = new ClientWebSocket();
        if (userAgent is { } product)
        {
            socket.Options.SetRequestHeader("User-Agent", product);
        }

        try
        {
            // Not disposed here: the upgraded connection lives on inside the websocket.
            var invoker = new HttpMessageInvoker(CreateHandler(socketPath));
            await socket.ConnectAsync(uri, invoker, ct).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async ValueTask<Stream> ConnectUnixAsync(string path, CancellationToken ct)
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
    }
}
