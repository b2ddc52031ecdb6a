using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Portal.Contracts.Guest;

namespace Portal.Guest.Tests;

/// <summary>A minimal host side of the guest channel for the end-to-end tests: requests, output and events.</summary>
public sealed class GuestClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Dictionary<uint, TaskCompletionSource<GuestResponse>> _pending = [];
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly Task _reader;
    private uint _nextRequest;
    private int _disposed;

    private GuestClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = Task.Run(ReadLoopAsync);
    }

    public Channel<(FrameKind Kind, uint Process, byte[] Data)> Output { get; } = Channel.CreateUnbounded<(FrameKind, uint, byte[])>();

    /// <summary>Every output frame's process, stream and sequence number, in arrival order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(uint Process, FrameKind Stream, ulong Sequence)> Sequences { get; } = new();

    public Channel<ProcessExitedEvent> Exits { get; } = Channel.CreateUnbounded<ProcessExitedEvent>();

    public static async Task<GuestClient> ConnectAsync(string socketPath, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
                return new GuestClient(socket);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(10);
            }
        }
    }

    /// <summary>A request under the next id, or under <paramref name="id"/> (to send one again, as the host does).</summary>
    public async Task<GuestResponse> RequestAsync(GuestRequest request, TimeSpan? timeout = null, uint? id = null)
    {
        var done = new TaskCompletionSource<GuestResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            id ??= ++_nextRequest;
            _pending[id.Value] = done;
        }

        await SendAsync(FrameKind.Request, id.Value, JsonSerializer.SerializeToUtf8Bytes(request, GuestJsonContext.Default.GuestRequest));
        return await done.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    public Task SendStdinAsync(uint process, string text) => SendAsync(FrameKind.Stdin, process, Encoding.UTF8.GetBytes(text));

    /// <summary>Collects a process's output until it contains the text.</summary>
    public async Task<string> ReadUntilAsync(uint process, string text, StringBuilder sink, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!sink.ToString().Contains(text, StringComparison.Ordinal))
        {
            try
            {
                var (_, p, data) = await Output.Reader.ReadAsync(cts.Token);
                if (p == process)
                {
                    sink.Append(Encoding.UTF8.GetString(data));
                }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"process {process} did not print \"{text}\" within {timeout}; got: {sink}");
            }
        }

        return sink.ToString();
    }

    public async Task<ProcessExitedEvent> WaitExitAsync(uint process, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var exit = await Exits.Reader.ReadAsync(cts.Token);
            if (exit.ProcessId == process)
            {
                return exit;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _socket.Shutdown(SocketShutdown.Both);
        await _stream.DisposeAsync();
        try
        {
            await _reader;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task SendAsync(FrameKind kind, uint channel, byte[] payload)
    {
        var frame = new byte[GuestProtocol.HeaderLength + payload.Length];
        GuestProtocol.WriteHeader(frame, kind, channel, payload.Length);
        payload.CopyTo(frame, GuestProtocol.HeaderLength);
        await _write.WaitAsync();
        try
        {
            await _stream.WriteAsync(frame);
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[GuestProtocol.HeaderLength];
        try
        {
            while (true)
            {
                await _stream.ReadExactlyAsync(header);
                var length = GuestProtocol.ReadHeader(header, out var kind, out var channel);
                var payload = new byte[length];
                await _stream.ReadExactlyAsync(payload);
                switch (kind)
                {
                    case FrameKind.Response:
                        TaskCompletionSource<GuestResponse>? waiter;
                        lock (_gate)
                        {
                            _pending.Remove(channel, out waiter);
                        }

                        waiter?.TrySetResult(JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestResponse)!);
                        break;
                    case FrameKind.Event:
                        if (JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestEvent) is ProcessExitedEvent exited)
                        {
                            Exits.Writer.TryWrite(exited);
                        }

                        break;
                    default:
                        // Protocol 3: output starts with its sequence number; acknowledge it as received, as the host does.
                        var sequence = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(payload);
                        await SendAsync(FrameKind.Ack, channel, GuestProtocol.Ack(kind, sequence));
                        Sequences.Enqueue((channel, kind, sequence));
                        Output.Writer.TryWrite((kind, channel, payload[GuestProtocol.SequenceLength..]));
                        break;
                }
            }
        }
        finally
        {
            Output.Writer.TryComplete();
            Exits.Writer.TryComplete();
        }
    }
}
