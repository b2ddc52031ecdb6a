using System.Net.Sockets;
using System.Net.WebSockets;

namespace Portal.Client;

/// <summary>HTTP and websocket plumbing for an endpoint: over TCP as usual, over the agent's unix socket when it has one.</summary>
internal static class AgentTransport
{
    public static SocketsHttpHandler CreateHandler(AgentEndpoint endpoint)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        if (endpoint.SocketPath is { } path)
        {
            handler.ConnectCallback = (_, ct) => ConnectUnixAsync(path, ct);
        }

        return handler;
    }

    /// <summary>A websocket whose connection goes over the unix socket (the hub's transport upgrade).</summary>
    public static async ValueTask<WebSocket> ConnectWebSocketAsync(AgentEndpoint endpoint, Uri uri, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        try
        {
            // Not disposed here: the upgraded connection lives on inside the websocket.
            var invoker = new HttpMessageInvoker(CreateHandler(endpoint));
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
