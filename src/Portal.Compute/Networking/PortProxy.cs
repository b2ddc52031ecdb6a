using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Portal.Compute.Networking;

/// <summary>
/// One published TCP port: a listener on the host that relays every connection to the container's address on its
/// switch (docker-proxy's approach). It works from 127.0.0.1 without route_localnet tricks, and a port another program
/// holds is a plain "address in use" at start.
/// </summary>
internal sealed class PortProxy : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task _accepting = Task.CompletedTask;

    private PortProxy(TcpListener listener, IPEndPoint target, ILogger logger)
    {
        _listener = listener;
        _target = target;
        _logger = logger;
    }

    public IPEndPoint Listening => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Binds now (so the caller learns at once that the port is taken) and starts relaying.</summary>
    public static PortProxy Start(IPEndPoint listen, IPEndPoint target, ILogger logger)
    {
        var listener = Bind(listen);
        var proxy = new PortProxy(listener, target, logger);
        proxy._accepting = proxy.AcceptAsync();
        return proxy;
    }

    /// <summary>Binds <paramref name="endpoint"/> (port 0 picks a free one) or explains why it cannot.</summary>
    public static TcpListener Bind(IPEndPoint endpoint)
    {
        var listener = new TcpListener(endpoint);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            listener.Start(128);
            return listener;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            listener.Server.Dispose();
            throw new ComputeException(ComputeErrorCode.PortInUse, $"Host port {endpoint.Port} ({Describe(endpoint.Address)}) is in use by another program on this host: publish the container's port on another host port.");
        }
        catch (SocketException e)
        {
            listener.Server.Dispose();
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Cannot listen on {endpoint}: {e.Message}. Use an address of this host (or none for every address).");
        }
    }

    public static string Describe(IPAddress address) => address.Equals(IPAddress.Any) ? "every address" : address.ToString();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var _ = client;
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                connect.CancelAfter(ConnectTimeout);
                await upstream.ConnectAsync(_target, connect.Token).ConfigureAwait(false);
            }

            await Task.WhenAll(PumpAsync(client, upstream), PumpAsync(upstream, client)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            _logger.LogDebug("Published port {Port}: connection to {Target} ended: {Message}", Listening.Port, _target, e.Message);
        }
    }

    /// <summary>Copies one direction; at its end, half-closes the other side so request/response protocols finish.</summary>
    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            try
            {
                to.Shutdown(SocketShutdown.Both);
            }
            catch (Exception inner) when (inner is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        _listener.Dispose();
        _stop.Dispose();
    }
}
