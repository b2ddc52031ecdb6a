using Portal.Shared.Native;

namespace Portal.Compute.Linux;

/// <summary>Waits for a child the host started with the shared PosixSpawn (conmon, a runtime exec, the VM worker).</summary>
internal static unsafe class ChildReaper
{
    /// <summary>Reaps a child of ours without blocking the caller; returns its exit code (128+signal when killed).</summary>
    public static Task<int> WaitAsync(int pid) => Task.Factory.StartNew(
        () =>
        {
            int status;
            while (true)
            {
                if (Libc.waitpid(pid, &status, 0) == pid)
                {
                    return Libc.ExitCode(status);
                }

                if (Libc.LastError != Libc.EINTR)
                {
                    // ECHILD: someone else reaped it; its status is gone, the caller relies on its own channel.
                    return -1;
                }
            }
        },
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default);
}
