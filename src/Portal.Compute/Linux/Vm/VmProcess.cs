using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>A process exec'd in a VM-isolated container: its stdio are frames on the guest channel.</summary>
internal sealed class VmProcess : IContainerProcess
{
    private readonly GuestChannel _channel;
    private readonly uint _id;
    private readonly bool _tty;
    private readonly GuestProcessOutput _output;
    private readonly ILogger _logger;

    /// <param name="output">The process's streams and exit, as the channel made them (the exit is 255 when the channel closes first).</param>
    public VmProcess(GuestChannel channel, uint id, GuestProcessOutput output, bool tty, bool stdin, ILogger logger)
    {
        _channel = channel;
        _id = id;
        _tty = tty;
        _output = output;
        _logger = logger;
        StandardOutput = output.StandardOutput;
        StandardError = tty ? null : output.StandardError;
        StandardInput = stdin ? new GuestStdinStream(channel, id) : null;
    }

    public Stream? StandardInput { get; }

    public Stream StandardOutput { get; }

    public Stream? StandardError { get; }

    public Task<int> WaitAsync(CancellationToken ct = default) => _output.Exited.WaitAsync(ct);

    public void Resize(int columns, int rows)
    {
        if (!_tty)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "This process has no terminal to resize; start it with a TTY.");
        }

        _ = ResizeAsync(columns, rows);
    }

    private async Task ResizeAsync(int columns, int rows)
    {
        try
        {
            await _channel.RequestAsync(new ResizeRequest(_id, columns, rows), CancellationToken.None).ConfigureAwait(false);
        }
        catch (GuestChannelException e)
        {
            _logger.LogDebug(e, "Resizing guest process {Id} failed", _id);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_output.Exited.IsCompleted)
        {
            try
            {
                await _channel.RequestAsync(new SignalRequest(_id, 9), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is GuestChannelException or TimeoutException)
            {
            }
        }

        if (StandardInput is { } stdin)
        {
            await stdin.DisposeAsync().ConfigureAwait(false);
        }

        _channel.Release(_id);
    }
}

/// <summary>Writes are stdin frames; closing sends the empty frame that closes the guest process's stdin.</summary>
internal sealed class GuestStdinStream(GuestChannel channel, uint id) : Stream
{
    private int _closed;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use WriteAsync: stdin frames go over the guest channel.");

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!buffer.IsEmpty)
        {
            await channel.SendStdinAsync(id, buffer, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            try
            {
                await channel.SendStdinAsync(id, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            }
            catch (GuestChannelException)
            {
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
