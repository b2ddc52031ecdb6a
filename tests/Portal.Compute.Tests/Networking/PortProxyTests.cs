using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Portal.Compute.Networking;

namespace Portal.Compute.Tests.Networking;

/// <summary>
/// Published-port relays hold a bounded number of connections: past the per-port or the total cap a connection is
/// reset at once and logged, and the agent's descriptors stay bounded. Unit tier: loopback sockets, no root.
/// </summary>
[Collection(ProcessMeasuring.Name)]
public sealed class PortProxyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Connections_past_the_per_port_cap_are_reset_and_logged_and_descriptors_stay_bounded()
    {
        const int cap = 8, clients = 40;
        await using var target = new EchoServer();
        var log = new ListLogger();
        var limits = new RelayLimits(cap, 1000);
        var fdsBefore = OpenDescriptors();
        await using var proxy = PortProxy.Start(new IPEndPoint(IPAddress.Loopback, 0), target.EndPoint, limits, log);

        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < clients; i++)
            {
                sockets.Add(await ConnectAsync(proxy.Listening));
            }

            // Every client is either relayed (echoes) or reset; exactly the cap are relayed.
            var echoed = 0;
            foreach (var socket in sockets)
            {
                echoed += await EchoesAsync(socket) ? 1 : 0;
            }

            Assert.Equal(cap, echoed);
            Assert.Equal(cap, proxy.Active);
            Assert.Equal(clients - cap, proxy.Refused);
            Assert.Contains(log.Messages, m => m.Contains($"refused a connection at its cap of {cap} connections", StringComparison.Ordinal)
                && m.Contains("PublishedPortMaxConnections", StringComparison.Ordinal));

            // The process holds the test's own client sockets, the target's accepted ones and two per relayed
            // connection; without the cap it would hold 2 per client more (80 here).
            var grown = OpenDescriptors() - fdsBefore;
            output.WriteLine($"{clients} clients, cap {cap}: {echoed} relayed, {proxy.Refused} reset, descriptors +{grown} (test clients and target included)");
            Assert.True(grown <= clients + cap + (2 * cap) + 8, $"{grown} descriptors were opened for {clients} clients with a cap of {cap}");
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }

        // Closed connections give their slots back: a new client is relayed again.
        await WaitUntilAsync(() => proxy.Active == 0);
        using var again = await ConnectAsync(proxy.Listening);
        Assert.True(await EchoesAsync(again));
    }

    [Fact]
    public async Task The_total_cap_is_shared_by_every_published_port()
    {
        await using var target = new EchoServer();
        var log = new ListLogger();
        var limits = new RelayLimits(perPort: 8, total: 10);
        await using var first = PortProxy.Start(new IPEndPoint(IPAddress.Loopback, 0), target.EndPoint, limits, log);
        await using var second = PortProxy.Start(new IPEndPoint(IPAddress.Loopback, 0), target.EndPoint, limits, log);
        var sockets = new List<Socket>();
        try
        {
            var echoed = 0;
            foreach (var proxy in new[] { first, second })
            {
                for (var i = 0; i < 8; i++)
                {
                    var socket = await ConnectAsync(proxy.Listening);
                    sockets.Add(socket);
                    echoed += await EchoesAsync(socket) ? 1 : 0;
                }
            }

            Assert.Equal(10, echoed);
            Assert.Equal(10, limits.Active);
            Assert.Equal(6, limits.Refused);
            Assert.Contains(log.Messages, m => m.Contains("the agent's cap of 10 relayed connections", StringComparison.Ordinal));
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>A connected socket; one the relay reset so fast that the connect itself saw the reset is returned closed.</summary>
    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            socket.Dispose();
        }

        return socket;
    }

    /// <summary>True when a byte sent comes back; false when the relay reset or closed the connection.</summary>
    private static async Task<bool> EchoesAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            await socket.SendAsync(new byte[] { 42 }, SocketFlags.None, timeout.Token);
            var buffer = new byte[1];
            return await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 1 && buffer[0] == 42;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            await Task.Delay(20);
        }
    }

    /// <summary>A loopback TCP server that echoes every byte on every connection it accepts.</summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _accepted = [];
        private readonly Task _accepting;

        public EchoServer()
        {
            _listener.Start(512);
            _accepting = AcceptAsync();
        }

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_accepted)
                    {
                        _accepted.Add(socket);
                    }

                    _ = EchoAsync(socket);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task EchoAsync(Socket socket)
        {
            var buffer = new byte[1024];
            try
            {
                int n;
                while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                }

                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            lock (_accepted)
            {
                _accepted.ForEach(s => s.Dispose());
            }

            _stop.Dispose();
        }
    }

    private sealed class ListLogger : ILogger
    {
        private readonly List<string> _messages = [];

        public IReadOnlyList<string> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_messages)
            {
                _messages.Add(formatter(state, exception));
            }
        }
    }
}
