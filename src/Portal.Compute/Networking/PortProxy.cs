using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Portal.Compute.Networking;

/// <summary>
/// One published TCP port: a listener on the host that relays every connection to the container's address on its
/// switch (docker-proxy's approach). It works from 127.0.0.1 without route_localnet tricks, and a port another program
/// holds is a plain "address in use" at start. Connections are capped per port and over all ports
/// (<see cref="RelayLimits"/>): one past a cap is accepted and reset at once (the client sees "connection reset", the
/// agent's descriptors stay bounded) and logged, at most once per <see cref="RefusalLogInterval"/> per port.
/// </summary>
internal sealed class PortProxy : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(10);

    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly ILogger _logger;
    private readonly RelayLimits _limits;
    private readonly CancellationTokenSource _stop = new();
    private Task _accepting = Task.CompletedTask;
    private int _active;
    private long _refused;
    private long _lastRefusalLog = -1; // Environment.TickCount64 of the last refusal logged; -1: none yet

    private PortProxy(TcpListener listener, IPEndPoint target, RelayLimits limits, ILogger logger)
    {
        _listener = listener;
        _target = target;
        _limits = limits;
        _logger = logger;
    }

    public IPEndPoint Listening => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Connections this port relays now.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>Connections this port refused at a cap.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Binds now (so the caller learns at once that the port is taken) and starts relaying.</summary>
    public static PortProxy Start(IPEndPoint listen, IPEndPoint target, RelayLimits limits, ILogger logger)
    {
        var listener = Bind(listen);
        var proxy = new PortProxy(listener, target, limits, logger);
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

            if (!TryTake(out var cap))
            {
                Refuse(client, cap);
                continue;
            }

            _ = RelayAsync(client);
        }
    }

    private bool TryTake(out string cap)
    {
        cap = string.Empty;
        if (Interlocked.Increment(ref _active) > _limits.PerPort)
        {
            Interlocked.Decrement(ref _active);
            cap = $"its cap of {_limits.PerPort} connections (Compute:Networking:PublishedPortMaxConnections)";
            return false;
        }

        if (!_limits.TryTake())
        {
            Interlocked.Decrement(ref _active);
            cap = $"the agent's cap of {_limits.Total} relayed connections over all published ports (Compute:Networking:PublishedPortsMaxConnections)";
            return false;
        }

        return true;
    }

    /// <summary>Resets a connection over a cap at once (SO_LINGER 0: RST, no TIME_WAIT) and says so in the log, rate-limited.</summary>
    private void Refuse(Socket client, string cap)
    {
        var refused = Interlocked.Increment(ref _refused);
        var total = _limits.CountRefused();
        try
        {
            client.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }

        client.Dispose();
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefusalLog);
        if ((last < 0 || now - last >= (long)RefusalLogInterval.TotalMilliseconds) && Interlocked.CompareExchange(ref _lastRefusalLog, now, last) == last)
        {
            _logger.LogWarning(
                "Published port {Port} -> {Target}: refused a connection at {Cap}; {Refused} refused on this port, {Total} on all ports since the agent started",
                Listening.Port, _target, cap, refused, total);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        try
        {
            await RelayConnectionAsync(client).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            _limits.Release();
        }
    }

    private async Task RelayConnectionAsync(Socket client)
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
