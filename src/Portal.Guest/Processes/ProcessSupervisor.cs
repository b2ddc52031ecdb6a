using System.Text.Json;
using Portal.Contracts.Guest;
using Portal.Guest.Boot;
using Portal.Guest.Wire;
using Portal.Guest.Containers;
using Portal.Shared.Native;

namespace Portal.Guest.Processes;

/// <summary>
/// Starts the host's processes, pumps their output into the outbound queue, feeds their stdin, and, as PID 1, reaps
/// every child and orphan. A process's exit event is queued only after its output drained (or had 2 s to).
/// </summary>
internal sealed class ProcessSupervisor
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly OutboundQueue _queue;
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, GuestProcess> _byId = [];
    private readonly Dictionary<int, GuestProcess> _byPid = [];
    private readonly Dictionary<int, (int Code, long At)> _unclaimed = [];
    private readonly ManualResetEventSlim _spawned = new();

    public ProcessSupervisor(OutboundQueue queue)
    {
        _queue = queue;
        new Thread(ReapLoop) { IsBackground = true, Name = "reaper" }.Start();
    }

    public string? Hostname { get; set; }

    public async Task<GuestProcess> StartAsync(uint id, GuestProcessSpec spec)
    {
        if (spec.Args.Count == 0)
        {
            throw new GuestException("no command given");
        }

        var user = UserResolver.Resolve(spec.User, ContainerFiles.ReadOrEmpty("/etc/passwd"), ContainerFiles.ReadOrEmpty("/etc/group"));
        var env = ProcessEnvironment.Build(spec.Env, user, Hostname, spec.Tty);
        var cwd = string.IsNullOrEmpty(spec.Cwd) ? "/" : spec.Cwd;
        if (!Directory.Exists(cwd))
        {
            Directory.CreateDirectory(cwd);
        }

        var path = ProcessEnvironment.ResolveExecutable(spec.Args[0], ProcessEnvironment.Get(env, "PATH"), cwd, ProcessEnvironment.IsExecutableFile);

        var files = new List<SpawnFile>();
        var childEnds = new List<int>();
        var ours = new List<int>();
        var outputs = new List<(int Fd, FrameKind Kind)>();
        var terminalFd = -1;
        var stdinFd = -1;
        (int Read, int Write) cancel = (-1, -1);
        try
        {
            if (spec.Tty)
            {
                terminalFd = OpenTerminal(spec.Columns, spec.Rows, user, out var slave);
                ours.Add(terminalFd);
                files.Add(new SpawnFile(0, Path: slave, Flags: Libc.O_RDWR));
                files.Add(new SpawnFile(1, ParentFd: 0));
                files.Add(new SpawnFile(2, ParentFd: 0));
                outputs.Add((terminalFd, FrameKind.Stdout));
                stdinFd = spec.Stdin ? terminalFd : -1;
            }
            else
            {
                if (spec.Stdin)
                {
                    var stdin = Libc.Pipe();
                    childEnds.Add(stdin.Read);
                    ours.Add(stdin.Write);
                    stdinFd = stdin.Write;
                    files.Add(new SpawnFile(0, ParentFd: stdin.Read));
                }
                else
                {
                    files.Add(new SpawnFile(0, Path: "/dev/null", Flags: Libc.O_RDONLY));
                }

                var stdout = Libc.Pipe();
                var stderr = Libc.Pipe();
                childEnds.Add(stdout.Write);
                childEnds.Add(stderr.Write);
                ours.Add(stdout.Read);
                ours.Add(stderr.Read);
                files.Add(new SpawnFile(1, ParentFd: stdout.Write));
                files.Add(new SpawnFile(2, ParentFd: stderr.Write));
                outputs.Add((stdout.Read, FrameKind.Stdout));
                outputs.Add((stderr.Read, FrameKind.Stderr));
            }

            cancel = Libc.Pipe();
            ours.Add(cancel.Read);
            ours.Add(cancel.Write);

            var args = spec.Args.ToList();
            var pid = await ProcessSpawner.SpawnAsync(path, args, env, cwd, user, files).ConfigureAwait(false);
            _spawned.Set();
            foreach (var fd in childEnds)
            {
                Libc.close(fd);
            }

            childEnds.Clear();
            var process = new GuestProcess(id, pid, terminalFd, stdinFd, [.. outputs.Select(o => o.Fd)], cancel);
            foreach (var (fd, kind) in outputs)
            {
                process.Pumps.Add(StartPump(process, fd, kind));
            }

            process.StdinWriter = Task.Run(() => FeedStdinAsync(process));
            int? earlyExit = null;
            lock (_gate)
            {
                _byId[id] = process;
                if (_unclaimed.Remove(pid, out var reaped))
                {
                    earlyExit = reaped.Code;
                }
                else
                {
                    _byPid[pid] = process;
                }
            }

            if (earlyExit is { } code)
            {
                _ = CompleteAsync(process, code);
            }

            return process;
        }
        catch
        {
            foreach (var fd in childEnds.Concat(ours))
            {
                Libc.close(fd);
            }

            throw;
        }
    }

    /// <summary>The response naming process <paramref name="id"/> is queued: its output may follow.</summary>
    public void Announce(uint id) => Find(id)?.Announced.Set();

    public void WriteStdin(uint id, byte[] payload)
    {
        if (Find(id) is { HasExited: false } process)
        {
            process.Stdin.Writer.TryWrite(payload);
        }
    }

    public void Signal(uint id, int signal)
    {
        var process = Running(id);
        if (Libc.kill(process.Pid, signal) != 0)
        {
            throw new GuestException($"signal {signal} to process {id} (pid {process.Pid}): {Libc.ErrorText(Libc.LastError)}");
        }
    }

    public unsafe void Resize(uint id, int columns, int rows)
    {
        var process = Running(id);
        if (process.TerminalFd < 0)
        {
            throw new GuestException($"process {id} has no terminal");
        }

        var size = new Libc.WinSize { Columns = (ushort)columns, Rows = (ushort)rows };
        if (Libc.ioctl(process.TerminalFd, Libc.TIOCSWINSZ, &size) != 0)
        {
            throw new GuestException($"resize the terminal of process {id}: {Libc.ErrorText(Libc.LastError)}");
        }
    }

    /// <summary>SIGTERM to every process, SIGKILL after the grace period; returns once their exit events are queued.</summary>
    public async Task TerminateAllAsync(TimeSpan grace)
    {
        Libc.kill(-1, Libc.SIGTERM);
        if (!await WaitForNoProcessesAsync(grace).ConfigureAwait(false))
        {
            GuestLog.Info("processes still running after the grace period: SIGKILL");
            Libc.kill(-1, Libc.SIGKILL);
            await WaitForNoProcessesAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }

        List<Task> exits;
        lock (_gate)
        {
            exits = [.. _byId.Values.Select(p => (Task)p.Exited.Task)];
        }

        await Task.WhenAny(Task.WhenAll(exits), Task.Delay(DrainTimeout)).ConfigureAwait(false);
    }

    private static async Task<bool> WaitForNoProcessesAsync(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (ProcessTable.ContainerProcesses().Any())
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        return true;
    }

    private GuestProcess? Find(uint id)
    {
        lock (_gate)
        {
            return _byId.GetValueOrDefault(id);
        }
    }

    private GuestProcess Running(uint id)
    {
        var process = Find(id) ?? throw new GuestException($"no process {id}");
        return process.HasExited ? throw new GuestException($"process {id} has exited") : process;
    }

    private static unsafe int OpenTerminal(int columns, int rows, ResolvedUser user, out string slave)
    {
        var master = Libc.open("/dev/ptmx", Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (master < 0)
        {
            throw new GuestException($"open /dev/ptmx: {Libc.ErrorText(Libc.LastError)}");
        }

        int unlock = 0;
        int number;
        var size = new Libc.WinSize { Columns = (ushort)(columns > 0 ? columns : 80), Rows = (ushort)(rows > 0 ? rows : 24) };
        if (Libc.ioctl(master, Libc.TIOCSPTLCK, &unlock) != 0 || Libc.ioctl(master, Libc.TIOCGPTN, &number) != 0 || Libc.ioctl(master, Libc.TIOCSWINSZ, &size) != 0)
        {
            var errno = Libc.LastError;
            Libc.close(master);
            throw new GuestException($"set up a terminal: {Libc.ErrorText(errno)}");
        }

        slave = $"/dev/pts/{number}";

        // The child opens its terminal as the user: it must own it (group tty, 5, like devpts' gid option).
        if (user.Uid != 0)
        {
            Libc.chown(slave, user.Uid, 5);
        }

        return master;
    }

    private Task StartPump(GuestProcess process, int fd, FrameKind kind)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                Pump(process, fd, kind);
            }
            catch (Exception e)
            {
                GuestLog.Error($"output of process {process.Id}: {e.Message}");
            }
            finally
            {
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = $"pump-{process.Id}-{kind}",
        }.Start();
        return done.Task;
    }

    private unsafe void Pump(GuestProcess process, int fd, FrameKind kind)
    {
        var buffer = new byte[32 * 1024];
        var fds = stackalloc Libc.PollFd[2];
        while (true)
        {
            fds[0] = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = process.Cancel.Read, Events = Libc.POLLIN };
            if (Libc.poll(fds, 2, -1) < 0)
            {
                if (Libc.LastError == Libc.EINTR)
                {
                    continue;
                }

                return;
            }

            if (fds[0].Revents == 0 && fds[1].Revents != 0)
            {
                return;
            }

            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.read(fd, p, (nuint)buffer.Length);
            }

            if (n > 0)
            {
                // The host learns of the process from the start/exec response: its output must not overtake it.
                while (!process.Announced.Wait(100))
                {
                    if (process.OutputCancelled)
                    {
                        return;
                    }
                }

                // Past the host's window this waits for acknowledgements: the process blocks on its next write.
                Interlocked.Increment(ref process.BlockedPumps);
                bool queued;
                try
                {
                    queued = _queue.EnqueueOutput(kind, process.Id, buffer.AsSpan(0, (int)n).ToArray(), () => process.OutputCancelled);
                }
                finally
                {
                    Interlocked.Decrement(ref process.BlockedPumps);
                }

                if (!queued)
                {
                    return;
                }
            }
            else if (n == 0 || Libc.LastError is not (Libc.EINTR or Libc.EAGAIN))
            {
                // EOF, or EIO from a pty master once every holder of the terminal closed it.
                return;
            }
        }
    }

    private static async Task FeedStdinAsync(GuestProcess process)
    {
        await foreach (var chunk in process.Stdin.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            process.WriteStdin(chunk);
        }
    }

    private unsafe void ReapLoop()
    {
        while (true)
        {
            _spawned.Reset();
            int status;
            var pid = Libc.waitpid(-1, &status, 0);
            if (pid < 0)
            {
                if (Libc.LastError == Libc.ECHILD)
                {
                    _spawned.Wait();
                }

                continue;
            }

            var code = Libc.ExitCode(status);
            GuestProcess? process;
            lock (_gate)
            {
                if (_byPid.Remove(pid, out process))
                {
                    process.ExitCode = code;
                }
                else
                {
                    // An orphan, or a child whose spawn has not registered yet: keep its status for a while.
                    var now = Environment.TickCount64;
                    foreach (var stale in _unclaimed.Where(u => now - u.Value.At > 60_000).Select(u => u.Key).ToList())
                    {
                        _unclaimed.Remove(stale);
                    }

                    _unclaimed[pid] = (code, now);
                }
            }

            if (process is not null)
            {
                _ = CompleteAsync(process, code);
            }
        }
    }

    private async Task CompleteAsync(GuestProcess process, int code)
    {
        process.ExitCode = code;
        var output = Task.WhenAll(process.Pumps);
        // Time spent waiting for the host to take output does not count: a slow reader gets everything.
        var draining = 0L;
        var last = Environment.TickCount64;
        while (await Task.WhenAny(output, Task.Delay(50)).ConfigureAwait(false) != output)
        {
            var now = Environment.TickCount64;
            draining += Volatile.Read(ref process.BlockedPumps) == 0 ? now - last : 0;
            last = now;
            if (draining >= (long)DrainTimeout.TotalMilliseconds)
            {
                // Something the process left behind still holds its output open: stop forwarding it.
                process.OutputCancelled = true;
                Libc.WriteAll(process.Cancel.Write, [1]);
                await output.ConfigureAwait(false);
                break;
            }
        }

        process.Stdin.Writer.TryComplete();
        await process.StdinWriter.ConfigureAwait(false);
        process.CloseAll();
        var payload = JsonSerializer.SerializeToUtf8Bytes<GuestEvent>(new ProcessExitedEvent(process.Id, code), GuestJsonContext.Default.GuestEvent);
        _queue.Enqueue(new OutboundFrame(FrameKind.Event, 0, payload, process.Id));
        process.Exited.TrySetResult(code);
    }
}
