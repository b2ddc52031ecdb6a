using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// A client attached to a container's first process (docker attach, docker run): its output from the log, which
/// loses nothing whatever the runtime, and its stdin and terminal size where the container has them.
/// </summary>
public sealed class ContainerAttachment : IAsyncDisposable
{
    private readonly Func<int, int, CancellationToken, Task> _resize;

    internal ContainerAttachment(IAsyncEnumerable<LogEntry> output, Stream? stdin, Func<int, int, CancellationToken, Task> resize)
    {
        Output = output;
        Stdin = stdin;
        _resize = resize;
    }

    /// <summary>Output of the attached run; ends when that run ends.</summary>
    public IAsyncEnumerable<LogEntry> Output { get; }

    /// <summary>Writes go to the first process's stdin once it runs; disposing closes that stdin. Null when not requested.</summary>
    public Stream? Stdin { get; }

    public Task ResizeAsync(int columns, int rows, CancellationToken ct = default) => _resize(columns, rows, ct);

    public async ValueTask DisposeAsync()
    {
        if (Stdin is not null)
        {
            await Stdin.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>A stdin that waits for the container's process to start before its first write reaches it.</summary>
internal sealed class DeferredStdinStream(Func<CancellationToken, Task<Stream>> open) : Stream
{
    private Task<Stream>? _inner;
    private bool _disposed;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var inner = await (_inner ??= open(cancellationToken)).ConfigureAwait(false);
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use WriteAsync.");

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // Closing stdin needs the process to exist; opening it now also delivers EOF to one that never got input.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var inner = _inner ?? open(patience.Token);
            await (await inner.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ComputeException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The container ended first: its stdin is gone anyway.
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
