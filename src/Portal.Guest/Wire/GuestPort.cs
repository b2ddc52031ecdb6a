using Portal.Guest.Boot;
using Portal.Shared.Native;

namespace Portal.Guest.Wire;

/// <summary>
/// The virtio-serial port to the host agent. One reader and one writer thread share the (non-blocking) fd.
/// While no host is connected the port reports POLLHUP, reads return EOF and writes would block: the reader then
/// checks again every 20 ms, and the writer writes nothing until a HelloRequest starts a session, so a new connection
/// never sees the tail of a frame meant for the old one (QEMU discards what the old connection did not take).
/// </summary>
internal sealed class GuestPort(int fd, OutboundQueue queue, Action<InboundFrame> onFrame)
{
    private readonly ManualResetEventSlim _stopped = new();

    public void Start()
    {
        new Thread(ReadLoop) { IsBackground = true, Name = "port-reader" }.Start();
        new Thread(WriteLoop) { IsBackground = true, Name = "port-writer" }.Start();
    }

    /// <summary>Waits until everything queued has been written, or the timeout passes (no host listening).</summary>
    public async Task<bool> FlushAsync(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!queue.IsDrained)
        {
            if (Environment.TickCount64 > deadline || !queue.SessionActive)
            {
                return false;
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return true;
    }

    public void Stop()
    {
        _stopped.Set();
        queue.Stop();
    }

    private unsafe void ReadLoop()
    {
        var decoder = new FrameDecoder();
        var buffer = new byte[64 * 1024];
        var hostPresent = false;
        GuestLog.Info("waiting for the host on the guest channel");
        while (!_stopped.IsSet)
        {
            var pfd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            if (Libc.poll(&pfd, 1, -1) < 0)
            {
                if (Libc.LastError != Libc.EINTR)
                {
                    GuestLog.Error($"poll on the guest channel: {Libc.ErrorText(Libc.LastError)}");
                    _stopped.Wait(100);
                }

                continue;
            }

            if ((pfd.Revents & Libc.POLLIN) != 0)
            {
                nint n;
                fixed (byte* p = buffer)
                {
                    n = Libc.read(fd, p, (nuint)buffer.Length);
                }

                if (n > 0)
                {
                    hostPresent = true;
                    List<InboundFrame> frames;
                    try
                    {
                        frames = decoder.Feed(buffer.AsSpan(0, (int)n));
                    }
                    catch (InvalidDataException e)
                    {
                        // Without a resync marker the rest of this connection is unreadable: wait for the host to reconnect.
                        GuestLog.Error($"{e.Message} Ignoring the connection until the host reconnects.");
                        queue.EndSession();
                        continue;
                    }

                    foreach (var frame in frames)
                    {
                        onFrame(frame);
                    }

                    continue;
                }

                var errno = n < 0 ? Libc.LastError : 0;
                if (errno is Libc.EAGAIN or Libc.EINTR)
                {
                    continue;
                }
            }

            // EOF, POLLHUP or an error: no host on the other side right now, unless the hang-up is a stale one. The
            // port's connect/disconnect notices travel on virtio-serial's control queue, apart from the data: a new
            // host's Hello can be read before the old host's hang-up is seen. Only a hang-up that lasts ends a session.
            if (queue.SessionActive && !HangUpLasts())
            {
                continue;
            }

            if (hostPresent || queue.SessionActive)
            {
                GuestLog.Info($"host disconnected; keeping output ({queue.BufferedOutputBytes} bytes queued, {queue.UnacknowledgedOutputBytes} unacknowledged)");
                hostPresent = false;
            }

            queue.EndSession();
            decoder.Reset();
            _stopped.Wait(20);
        }
    }

    private unsafe bool HangUpLasts()
    {
        _stopped.Wait(100);
        var pfd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
        return Libc.poll(&pfd, 1, 0) < 0 || (pfd.Revents & Libc.POLLHUP) != 0;
    }

    private void WriteLoop()
    {
        while (queue.Take(out var session, out var version) is { } frame)
        {
            var bytes = frame.Encode(version);
            var written = WriteFrame(bytes);
            if (written == bytes.Length)
            {
                queue.Written(frame);
                continue;
            }

            if (written == 0)
            {
                queue.Unsent(frame);
            }
            else
            {
                // Part of it left: the rest is lost with the connection (an exit event and unacknowledged output are
                // re-sent on the next Hello).
                queue.Written(frame);
            }

            queue.EndSession(session);
        }
    }

    /// <summary>Returns how many bytes were written: all of them, or fewer when the host went away.</summary>
    private unsafe int WriteFrame(byte[] bytes)
    {
        var offset = 0;
        fixed (byte* p = bytes)
        {
            while (offset < bytes.Length)
            {
                var n = Libc.write(fd, p + offset, (nuint)(bytes.Length - offset));
                if (n > 0)
                {
                    offset += (int)n;
                    continue;
                }

                var errno = n < 0 ? Libc.LastError : Libc.EAGAIN;
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                if (errno != Libc.EAGAIN)
                {
                    GuestLog.Error($"write to the guest channel: {Libc.ErrorText(errno)}");
                    return offset;
                }

                var pfd = new Libc.PollFd { Fd = fd, Events = Libc.POLLOUT };
                if (Libc.poll(&pfd, 1, 1000) > 0 && (pfd.Revents & (Libc.POLLHUP | Libc.POLLERR | Libc.POLLNVAL)) != 0)
                {
                    return offset;
                }

                if (_stopped.IsSet)
                {
                    return offset;
                }
            }
        }

        return offset;
    }
}
