using System.Threading.Channels;
using Portal.Shared.Native;

namespace Portal.Guest.Processes;

/// <summary>A process the host started (the container's first process or an exec), with its stdio plumbing.</summary>
internal sealed class GuestProcess
{
    private readonly Lock _gate = new();
    private int _stdinFd;

    public GuestProcess(uint id, int pid, int terminalFd, int stdinFd, IReadOnlyList<int> outputFds, (int Read, int Write) cancel)
    {
        Id = id;
        Pid = pid;
        TerminalFd = terminalFd;
        _stdinFd = stdinFd;
        OutputFds = outputFds;
        Cancel = cancel;
    }

    public uint Id { get; }

    public int Pid { get; }

    /// <summary>The pty master when the process has a TTY, else -1.</summary>
    public int TerminalFd { get; }

    public IReadOnlyList<int> OutputFds { get; }

    /// <summary>Written once the process exited and its output had time to drain: the pumps stop.</summary>
    public (int Read, int Write) Cancel { get; }

    /// <summary>Set once the host has the response that names this process: its output may go out only after that.</summary>
    public ManualResetEventSlim Announced { get; } = new();

    /// <summary>Set with <see cref="Cancel"/>: a pump waiting for the host's window gives up too.</summary>
    public volatile bool OutputCancelled;

    /// <summary>How many of its pumps wait for the host to acknowledge output (time that does not count as draining).</summary>
    public int BlockedPumps;

    public Channel<byte[]> Stdin { get; } = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });

    public List<Task> Pumps { get; } = [];

    public Task StdinWriter { get; set; } = Task.CompletedTask;

    public TaskCompletionSource<int> Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool HasExited => Exited.Task.IsCompleted || ExitCode is not null;

    public int? ExitCode { get; set; }

    /// <summary>Feeds stdin; an empty chunk closes it (with a TTY: sends end-of-file, ^D).</summary>
    public void WriteStdin(byte[] chunk)
    {
        int fd;
        lock (_gate)
        {
            fd = _stdinFd;
        }

        if (fd < 0)
        {
            return;
        }

        if (chunk.Length > 0)
        {
            Libc.WriteAll(fd, chunk);
        }
        else if (TerminalFd >= 0)
        {
            Libc.WriteAll(fd, [4]);
        }
        else
        {
            CloseStdin();
        }
    }

    public void CloseStdin()
    {
        int fd;
        lock (_gate)
        {
            fd = _stdinFd;
            _stdinFd = -1;
        }

        // The terminal's master is closed with the outputs.
        if (fd >= 0 && fd != TerminalFd)
        {
            Libc.close(fd);
        }
    }

    public void CloseAll()
    {
        CloseStdin();
        foreach (var fd in OutputFds)
        {
            Libc.close(fd);
        }

        Libc.close(Cancel.Read);
        Libc.close(Cancel.Write);
    }
}
