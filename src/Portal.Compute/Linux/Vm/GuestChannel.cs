using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json;
using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// The host end of the guest channel (see <see cref="GuestProtocol"/>): requests matched to responses by id,
/// events, and stdio demultiplexed into one stream pair per guest process. Output for a process nobody has
/// claimed yet is kept until it is claimed, so output racing ahead of an exec's response is not lost.
/// </summary>
internal sealed class GuestChannel : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<GuestResponse>> _pending = new();
    private readonly ConcurrentDictionary<uint, GuestProcessOutput> _outputs = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private int _nextRequest;
    private uint? _syncOn;

    /// <param name="resync">
    /// Skip whatever arrives before the response to the first request (the Hello). A guest that has not yet noticed
    /// the previous connection's hang-up can still be writing the rest of a frame meant for it; the Hello's id is
    /// random, so its response's header is the first point in the stream that is surely a frame boundary.
    /// </param>
    private GuestChannel(Stream stream, Action<GuestEvent>? onEvent, bool resync = false)
    {
        _stream = stream;
        OnEvent = onEvent;
        if (resync)
        {
            _nextRequest = System.Security.Cryptography.RandomNumberGenerator.GetInt32(1 << 20, int.MaxValue / 2);
            _syncOn = (uint)(_nextRequest + 1);
        }

        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Raised on the reading task for every event; handlers must not block.</summary>
    private Action<GuestEvent>? OnEvent { get; }

    /// <summary>Completes when the guest end went away (the VM stopped, or the channel broke).</summary>
    public Task Closed => _closed.Task;

    /// <summary>Why the channel closed, once it has.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>The protocol version agreed in the Hello (networking needs <see cref="GuestProtocol.NetworkingVersion"/>).</summary>
    public int Version { get; private set; } = GuestProtocol.MinimumVersion;

    /// <summary>The guest kernel's release, from the Hello response.</summary>
    public string? GuestKernel { get; private set; }

    public static GuestChannel Over(Stream stream, Action<GuestEvent>? onEvent = null) => new(stream, onEvent);

    /// <summary>
    /// Connects to the worker's socket and says Hello, retrying until the guest agent answers. The guest opens its
    /// port only once it has booted, so until then the Hello waits in the socket. A connection made while QEMU still
    /// holds the previous agent's is closed at once, and a Hello can be lost in the hand-over between two host
    /// connections, so a connection that closes or stays unanswered for a while is replaced by a fresh one.
    /// <paramref name="workerAlive"/> lets a dead worker end the wait at once.
    /// </summary>
    public static async Task<GuestChannel> ConnectAsync(string socketPath, Action<GuestEvent>? onEvent, Func<bool> workerAlive, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            var socket = await OpenAsync(socketPath, workerAlive, deadline.Token).ConfigureAwait(false);
            var channel = new GuestChannel(new NetworkStream(socket, ownsSocket: true), onEvent, resync: true);
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                attempt.CancelAfter(HelloAttempt);
                var hello = channel.RequestAsync(new HelloRequest(GuestProtocol.Version), attempt.Token);
                while (!hello.IsCompleted)
                {
                    await Task.WhenAny(hello, Task.Delay(200, deadline.Token)).ConfigureAwait(false);
                    if (!hello.IsCompleted && !workerAlive())
                    {
                        throw new GuestChannelException("The VM worker ended before the guest agent answered.");
                    }
                }

                GuestResponse response;
                try
                {
                    response = await hello.ConfigureAwait(false);
                }
                catch (GuestChannelException e) when (e.FromGuest)
                {
                    // A guest older than this host refuses its version: speak the oldest one (it then has no networking).
                    response = await channel.RequestAsync(new HelloRequest(GuestProtocol.MinimumVersion), deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or GuestChannelException { FromGuest: false } && !deadline.IsCancellationRequested)
                {
                    await channel.DisposeAsync().ConfigureAwait(false);
                    await Task.Delay(100, deadline.Token).ConfigureAwait(false);
                    continue;
                }

                var version = response.Version ?? GuestProtocol.MinimumVersion;
                if (version is < GuestProtocol.MinimumVersion or > GuestProtocol.Version)
                {
                    throw new GuestChannelException($"The guest agent speaks protocol version {version}; this host speaks {GuestProtocol.MinimumVersion} to {GuestProtocol.Version}. Rebuild the guest (deploy/guest/build).");
                }

                channel.Version = version;
                channel.GuestKernel = response.Kernel;
                return channel;
            }
            catch
            {
                await channel.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>How long one connection waits for the Hello's answer before a fresh one is tried (a booting guest keeps its Hello waiting longer).</summary>
    private static readonly TimeSpan HelloAttempt = TimeSpan.FromSeconds(15);

    private static async Task<Socket> OpenAsync(string socketPath, Func<bool> workerAlive, CancellationToken ct)
    {
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException) when (!ct.IsCancellationRequested)
            {
                socket.Dispose();
                if (!workerAlive())
                {
                    throw new GuestChannelException("The VM worker ended before its guest channel opened.");
                }

                await Task.Delay(20, ct).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Sends a request and waits for its response; a response with Error set throws.</summary>
    public async Task<GuestResponse> RequestAsync(GuestRequest request, CancellationToken ct)
    {
        var id = (uint)Interlocked.Increment(ref _nextRequest);
        var completion = new TaskCompletionSource<GuestResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = completion;
        try
        {
            if (_closed.Task.IsCompleted)
            {
                throw new GuestChannelException("The guest channel is closed: the VM is not running.");
            }

            var payload = JsonSerializer.SerializeToUtf8Bytes(request, GuestJsonContext.Default.GuestRequest);
            await WriteFrameAsync(FrameKind.Request, id, payload, ct).ConfigureAwait(false);
            var response = await completion.Task.WaitAsync(ct).ConfigureAwait(false);
            if (response.Error is { } error)
            {
                throw new GuestChannelException(error, fromGuest: true);
            }

            return response;
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Sends bytes to a process's stdin; an empty buffer closes it.</summary>
    public Task SendStdinAsync(uint processId, ReadOnlyMemory<byte> data, CancellationToken ct) =>
        WriteFrameAsync(FrameKind.Stdin, processId, data, ct);

    /// <summary>The output streams of a guest process (created on first use by either side).</summary>
    public GuestProcessOutput Output(uint processId) => _outputs.GetOrAdd(processId, _ => new GuestProcessOutput());

    /// <summary>Ends a process's output streams (after its exit event) and forgets them.</summary>
    public void Release(uint processId)
    {
        if (_outputs.TryRemove(processId, out var output))
        {
            output.Complete();
        }
    }

    private async Task WriteFrameAsync(FrameKind kind, uint channel, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        if (payload.Length > GuestProtocol.MaxPayload)
        {
            for (var offset = 0; offset < payload.Length; offset += GuestProtocol.MaxPayload)
            {
                await WriteFrameAsync(kind, channel, payload.Slice(offset, Math.Min(GuestProtocol.MaxPayload, payload.Length - offset)), ct).ConfigureAwait(false);
            }

            return;
        }

        var frame = ArrayPool<byte>.Shared.Rent(GuestProtocol.HeaderLength + payload.Length);
        try
        {
            GuestProtocol.WriteHeader(frame, kind, channel, payload.Length);
            payload.Span.CopyTo(frame.AsSpan(GuestProtocol.HeaderLength));
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(frame.AsMemory(0, GuestProtocol.HeaderLength + payload.Length), ct).ConfigureAwait(false);
                await _stream.FlushAsync(ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new GuestChannelException("The guest channel broke: " + e.Message, inner: e);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[GuestProtocol.HeaderLength];
        var error = "The guest channel closed.";
        try
        {
            if (_syncOn is { } helloId && !await SkipToResponseAsync(header, helloId).ConfigureAwait(false))
            {
                return;
            }

            var synced = _syncOn is not null;
            while (true)
            {
                if (!synced && !await ReadExactlyAsync(header).ConfigureAwait(false))
                {
                    break;
                }

                synced = false;
                var length = GuestProtocol.ReadHeader(header, out var kind, out var channel);
                var payload = new byte[length];
                if (length > 0 && !await ReadExactlyAsync(payload).ConfigureAwait(false))
                {
                    break;
                }

                await DispatchAsync(kind, channel, payload).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or ObjectDisposedException or OperationCanceledException or NotSupportedException)
        {
            error = "The guest channel broke: " + e.Message;
        }
        finally
        {
            foreach (var (_, pending) in _pending)
            {
                pending.TrySetException(new GuestChannelException(error));
            }

            foreach (var (_, output) in _outputs)
            {
                output.Complete();
            }

            CloseReason = error;
            _closed.TrySetResult();
        }
    }

    /// <summary>Slides over the stream until <paramref name="header"/> holds the header of the response to <paramref name="requestId"/>.</summary>
    private async Task<bool> SkipToResponseAsync(byte[] header, uint requestId)
    {
        if (!await ReadExactlyAsync(header).ConfigureAwait(false))
        {
            return false;
        }

        var one = new byte[1];
        while (true)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
            if (header[4] == (byte)FrameKind.Response && length is >= 5 and <= GuestProtocol.MaxPayload + 5
                && System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) == requestId)
            {
                return true;
            }

            if (!await ReadExactlyAsync(one).ConfigureAwait(false))
            {
                return false;
            }

            Buffer.BlockCopy(header, 1, header, 0, header.Length - 1);
            header[^1] = one[0];
        }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer)
    {
        try
        {
            await _stream.ReadExactlyAsync(buffer, _stop.Token).ConfigureAwait(false);
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }

    private async Task DispatchAsync(FrameKind kind, uint channel, byte[] payload)
    {
        switch (kind)
        {
            case FrameKind.Response:
                var response = JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestResponse) ?? new GuestResponse { Error = "empty response" };
                if (_pending.TryGetValue(channel, out var completion))
                {
                    completion.TrySetResult(response);
                }

                break;
            case FrameKind.Event:
                if (JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestEvent) is { } e)
                {
                    OnEvent?.Invoke(e);
                }

                break;
            case FrameKind.Stdout:
            case FrameKind.Stderr:
                await Output(channel).WriteAsync(kind == FrameKind.Stderr, payload).ConfigureAwait(false);
                break;
            default:
                break; // Requests and stdin flow the other way; ignore what a newer guest might add.
        }
    }

    /// <summary>Closes the connection without waiting for the reader (the guest keeps its output for the next Hello).</summary>
    public void Close()
    {
        _stop.Cancel();
        _stream.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reader.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }

        _stop.Dispose();
        _writeLock.Dispose();
    }
}

/// <summary>One guest process's stdout and stderr as host streams; unread output is buffered without bound so one slow reader never stalls the channel.</summary>
internal sealed class GuestProcessOutput
{
    private readonly Pipe _stdout = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Pipe _stderr = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private int _completed;

    public Stream StandardOutput => _stdout.Reader.AsStream();

    public Stream StandardError => _stderr.Reader.AsStream();

    public PipeReader StandardOutputReader => _stdout.Reader;

    public PipeReader StandardErrorReader => _stderr.Reader;

    public async ValueTask WriteAsync(bool stderr, byte[] data)
    {
        if (Volatile.Read(ref _completed) != 0)
        {
            return;
        }

        await (stderr ? _stderr : _stdout).Writer.WriteAsync(data).ConfigureAwait(false);
    }

    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            _stdout.Writer.Complete();
            _stderr.Writer.Complete();
        }
    }
}

/// <summary>The guest channel failed, or the guest refused a request (<see cref="FromGuest"/>).</summary>
internal sealed class GuestChannelException : IOException
{
    public GuestChannelException(string message, bool fromGuest = false, Exception? inner = null)
        : base(message, inner)
    {
        FromGuest = fromGuest;
    }

    public bool FromGuest { get; }
}
