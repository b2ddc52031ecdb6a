using System.Runtime.InteropServices;
using System.Text;
using Portal.Guest.Containers;
using Portal.Guest.Native;

namespace Portal.Guest.Processes;

/// <summary>A file the child gets as ChildFd: our fd ParentFd dup'ed, or Path opened (in order, after setsid).</summary>
internal sealed record SpawnFile(int ChildFd, int? ParentFd = null, string? Path = null, int Flags = Libc.O_RDWR);

/// <summary>
/// Starts container processes with posix_spawn (a NativeAOT process must not run managed code after fork): a new
/// session, default signal dispositions and an empty mask, the stdio files, and the working directory. posix_spawn
/// cannot change credentials, but Linux credentials belong to a thread and the raw setres[ug]id/setgroups syscalls
/// (unlike glibc's wrappers) change only the calling thread: a throwaway thread drops to the user and spawns, and the
/// child inherits that thread's credentials. So no helper binary has to exist inside the container's root.
/// </summary>
internal static unsafe class ProcessSpawner
{
    public static Task<int> SpawnAsync(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env, string cwd, ResolvedUser user, IReadOnlyList<SpawnFile> files)
    {
        if (user.IsPlainRoot)
        {
            return Task.FromResult(Spawn(path, argv, env, cwd, files));
        }

        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                BecomeUser(user);
                done.SetResult(Spawn(path, argv, env, cwd, files));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "spawn-as-user",
        };
        thread.Start();
        return done.Task;
    }

    private static void BecomeUser(ResolvedUser user)
    {
        var groups = stackalloc uint[Math.Max(1, user.Groups.Count)];
        for (var i = 0; i < user.Groups.Count; i++)
        {
            groups[i] = user.Groups[i];
        }

        if (Libc.syscall(Libc.SYS_setgroups, user.Groups.Count, (long)groups, 0) != 0)
        {
            throw new GuestException($"setgroups for user {user.Name}: {Libc.ErrorText(Libc.LastError)}");
        }

        if (Libc.syscall(Libc.SYS_setresgid, user.Gid, user.Gid, user.Gid) != 0)
        {
            throw new GuestException($"setgid {user.Gid}: {Libc.ErrorText(Libc.LastError)}");
        }

        if (Libc.syscall(Libc.SYS_setresuid, user.Uid, user.Uid, user.Uid) != 0)
        {
            throw new GuestException($"setuid {user.Uid}: {Libc.ErrorText(Libc.LastError)}");
        }
    }

    private static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env, string cwd, IReadOnlyList<SpawnFile> files)
    {
        var attr = stackalloc byte[1024];
        var actions = stackalloc byte[1024];
        var sigset = stackalloc byte[256];
        Check(Libc.posix_spawnattr_init(attr), "posix_spawnattr_init");
        Check(Libc.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
        var allocations = new List<nint>();
        try
        {
            Libc.sigfillset(sigset);
            Check(Libc.posix_spawnattr_setsigdefault(attr, sigset), "posix_spawnattr_setsigdefault");
            Libc.sigemptyset(sigset);
            Check(Libc.posix_spawnattr_setsigmask(attr, sigset), "posix_spawnattr_setsigmask");
            Check(Libc.posix_spawnattr_setflags(attr, Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSID), "posix_spawnattr_setflags");
            foreach (var f in files)
            {
                if (f.ParentFd is { } parentFd)
                {
                    Check(Libc.posix_spawn_file_actions_adddup2(actions, parentFd, f.ChildFd), "posix_spawn_file_actions_adddup2");
                }
                else
                {
                    Check(Libc.posix_spawn_file_actions_addopen(actions, f.ChildFd, f.Path ?? "/dev/null", f.Flags, 0), "posix_spawn_file_actions_addopen");
                }
            }

            Check(Libc.posix_spawn_file_actions_addchdir_np(actions, cwd), "posix_spawn_file_actions_addchdir_np");
            int pid;
            var result = Libc.posix_spawn(&pid, (byte*)CString(path, allocations), actions, attr, (byte**)CStringArray(argv, allocations), (byte**)CStringArray(env, allocations));
            if (result != 0)
            {
                throw new GuestException($"cannot start {path} (cwd {cwd}): {Libc.ErrorText(result)}");
            }

            return pid;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(actions);
            Libc.posix_spawnattr_destroy(attr);
            foreach (var p in allocations)
            {
                Marshal.FreeHGlobal(p);
            }
        }
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new GuestException($"{what}: {Libc.ErrorText(result)}");
        }
    }

    private static nint CString(string s, List<nint> allocations)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var p = Marshal.AllocHGlobal(bytes.Length + 1);
        allocations.Add(p);
        Marshal.Copy(bytes, 0, p, bytes.Length);
        ((byte*)p)[bytes.Length] = 0;
        return p;
    }

    private static nint CStringArray(IReadOnlyList<string> items, List<nint> allocations)
    {
        var array = Marshal.AllocHGlobal((items.Count + 1) * IntPtr.Size);
        allocations.Add(array);
        var slots = (nint*)array;
        for (var i = 0; i < items.Count; i++)
        {
            slots[i] = CString(items[i], allocations);
        }

        slots[items.Count] = 0;
        return array;
    }
}
