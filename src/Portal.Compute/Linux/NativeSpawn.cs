using System.Runtime.InteropServices;
using System.Text;

namespace Portal.Compute.Linux;

/// <summary>
/// posix_spawn for the cases System.Diagnostics.Process cannot express: handing a child an extra
/// file descriptor (conmon's sync pipe) or a terminal as its controlling tty. Signal dispositions
/// and the mask are reset so children never inherit the runtime's ignored SIGPIPE.
/// </summary>
internal static unsafe class NativeSpawn
{
    /// <summary>One file the child gets: either an fd of ours dup'ed to ChildFd, or a path opened as ChildFd.</summary>
    public sealed record ChildFile(int ChildFd, int? ParentFd = null, string? Path = null, int Flags = Native.O_RDWR);

    public static int Spawn(string file, IReadOnlyList<string> argv, IReadOnlyList<string> env, IReadOnlyList<ChildFile> files, bool newSession = false)
    {
        var attr = stackalloc byte[1024];
        var actions = stackalloc byte[1024];
        var sigset = stackalloc byte[256];
        Check(Native.posix_spawnattr_init(attr), "posix_spawnattr_init");
        Check(Native.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
        var allocations = new List<nint>();
        try
        {
            Native.sigfillset(sigset);
            Check(Native.posix_spawnattr_setsigdefault(attr, sigset), "posix_spawnattr_setsigdefault");
            Native.sigemptyset(sigset);
            Check(Native.posix_spawnattr_setsigmask(attr, sigset), "posix_spawnattr_setsigmask");
            var flags = (short)(Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK | (newSession ? Native.POSIX_SPAWN_SETSID : 0));
            Check(Native.posix_spawnattr_setflags(attr, flags), "posix_spawnattr_setflags");
            foreach (var f in files)
            {
                if (f.ParentFd is { } parentFd)
                {
                    Check(Native.posix_spawn_file_actions_adddup2(actions, parentFd, f.ChildFd), "posix_spawn_file_actions_adddup2");
                }
                else
                {
                    Check(Native.posix_spawn_file_actions_addopen(actions, f.ChildFd, f.Path ?? "/dev/null", f.Flags, 0), "posix_spawn_file_actions_addopen");
                }
            }

            var argvPtr = ToCStringArray(argv, allocations);
            var envPtr = ToCStringArray(env, allocations);
            var filePtr = ToCString(file, allocations);
            int pid;
            Check(Native.posix_spawnp(&pid, (byte*)filePtr, actions, attr, (byte**)argvPtr, (byte**)envPtr), $"spawn {file}");
            return pid;
        }
        finally
        {
            Native.posix_spawn_file_actions_destroy(actions);
            Native.posix_spawnattr_destroy(attr);
            foreach (var p in allocations)
            {
                Marshal.FreeHGlobal(p);
            }
        }
    }

    /// <summary>Reaps a child of ours without blocking the caller; returns its exit code (128+signal when killed).</summary>
    public static Task<int> WaitAsync(int pid) => Task.Factory.StartNew(
        () =>
        {
            int status;
            while (true)
            {
                var r = Native.waitpid(pid, &status, 0);
                if (r == pid)
                {
                    var signal = status & 0x7f;
                    return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != Native.EINTR)
                {
                    // ECHILD: someone else reaped it; its status is gone, the caller relies on its own channel.
                    return -1;
                }
            }
        },
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default);

    /// <summary>Creates a pipe whose ends are close-on-exec (a dup2 to a child fd clears that flag for the child).</summary>
    public static (int Read, int Write) Pipe()
    {
        var fds = stackalloc int[2];
        if (Native.pipe2(fds, Native.O_CLOEXEC) != 0)
        {
            throw Native.Fail("pipe2");
        }

        return (fds[0], fds[1]);
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new IOException($"{what}: {Native.ErrorText(result)}", result);
        }
    }

    private static nint ToCString(string s, List<nint> allocations)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var p = Marshal.AllocHGlobal(bytes.Length + 1);
        allocations.Add(p);
        Marshal.Copy(bytes, 0, p, bytes.Length);
        ((byte*)p)[bytes.Length] = 0;
        return p;
    }

    private static nint ToCStringArray(IReadOnlyList<string> items, List<nint> allocations)
    {
        var array = Marshal.AllocHGlobal((items.Count + 1) * IntPtr.Size);
        allocations.Add(array);
        for (var i = 0; i < items.Count; i++)
        {
            ((nint*)array)[i] = ToCString(items[i], allocations);
        }

        ((nint*)array)[items.Count] = 0;
        return array;
    }
}
