using System.Net.Sockets;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>conmon's attach socket (SOCK_SEQPACKET in the bundle directory): stdin goes in; output comes out, which we drain (the log has it).</summary>
internal static class ConmonAttach
{
    private const int O_PATH = 0x200000;

    public static async Task<Socket> ConnectAsync(string bundle, CancellationToken ct)
    {
        // Reach the socket through /proc/self/fd so long run-root paths never exceed sun_path's 108 bytes.
        var dirFd = Libc.open(bundle, O_PATH | Libc.O_CLOEXEC, 0);
        if (dirFd < 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidTransition, "The container is not running, so it has no stdin to attach to.");
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint($"/proc/self/fd/{dirFd}/attach"), ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            Libc.close(dirFd);
        }

        _ = DrainAsync(socket);
        return socket;
    }

    private static async Task DrainAsync(Socket socket)
    {
        var buffer = new byte[8193];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Write-only stdin over the attach socket; disposing shuts down our sending side so conmon closes the container's stdin.</summary>
    public sealed class StdinStream(Socket socket) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // One packet at most conmon's buffer size (8192) each.
            for (var offset = 0; offset < buffer.Length; offset += 8192)
            {
                var chunk = buffer.Slice(offset, Math.Min(8192, buffer.Length - offset));
                await socket.SendAsync(chunk, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            for (var done = 0; done < count; done += 8192)
            {
                socket.Send(buffer, offset + done, Math.Min(8192, count - done), SocketFlags.None);
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }

                socket.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
