using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using Portal.Contracts.Guest;

namespace Portal.Compute.Tests.Vm;

/// <summary>An in-process guest agent that speaks the guest protocol over one end of a socket pair.</summary>
internal sealed class FakeGuest : IAsyncDisposable
{
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly Task _loop;

    public FakeGuest(Socket socket, Func<FakeGuest, uint, GuestRequest, Task<GuestResponse?>> handler)
    {
        _stream = new NetworkStream(socket, ownsSocket: true);
        Handler = handler;
        _loop = Task.Run(LoopAsync);
    }

    public Func<FakeGuest, uint, GuestRequest, Task<GuestResponse?>> Handler { get; }

    public ConcurrentQueue<(uint Channel, byte[] Data)> Stdin { get; } = new();

    public ConcurrentQueue<(uint Process, FrameKind Stream, ulong Sequence)> Acks { get; } = new();

    /// <summary>The highest sequence acknowledged for a process's stream (0: none).</summary>
    public ulong Acked(uint process, FrameKind stream = FrameKind.Stdout) =>
        Acks.Where(a => a.Process == process && a.Stream == stream).Select(a => a.Sequence).DefaultIfEmpty(0UL).Max();

    /// <summary>An output frame of protocol 3: the sequence number, then the bytes.</summary>
    public Task SendOutputAsync(FrameKind kind, uint process, ulong sequence, byte[] data)
    {
        var payload = new byte[GuestProtocol.SequenceLength + data.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(payload, sequence);
        data.CopyTo(payload, GuestProtocol.SequenceLength);
        return SendAsync(kind, process, payload);
    }

    /// <summary>Bytes as they are, framed or not (a hostile guest).</summary>
    public async Task SendRawAsync(byte[] bytes, CancellationToken ct = default)
    {
        await _write.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        finally
        {
            _write.Release();
        }
    }

    public static (Socket Host, Socket Guest) Pair()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fg-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var host = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        host.Connect(new UnixDomainSocketEndPoint(path));
        var guest = listener.Accept();
        File.Delete(path);
        return (host, guest);
    }

    public async Task SendAsync(FrameKind kind, uint channel, byte[] payload)
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

    public Task SendEventAsync(GuestEvent e) => SendAsync(FrameKind.Event, 0, JsonSerializer.SerializeToUtf8Bytes(e, GuestJsonContext.Default.GuestEvent));

    public Task RespondAsync(uint id, GuestResponse r) => SendAsync(FrameKind.Response, id, JsonSerializer.SerializeToUtf8Bytes(r, GuestJsonContext.Default.GuestResponse));

    private async Task LoopAsync()
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
                if (kind == FrameKind.Stdin)
                {
                    Stdin.Enqueue((channel, payload));
                    continue;
                }

                if (kind == FrameKind.Ack)
                {
                    Assert.True(GuestProtocol.TryReadAck(payload, out var stream, out var sequence));
                    Acks.Enqueue((channel, stream, sequence));
                    continue;
                }

                var request = JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestRequest)!;
                var id = channel;
                _ = Task.Run(async () =>
                {
                    if (await Handler(this, id, request) is { } response)
                    {
                        await RespondAsync(id, response);
                    }
                });
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        await _loop;
    }
}
