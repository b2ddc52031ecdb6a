using Portal.Guest.Containers;
using Portal.Shared.Native;

namespace Portal.Guest.Processes;

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
        try
        {
            // The path is already resolved inside the container's root: no PATH search.
            return PosixSpawn.Spawn(path, argv, env, files, newSession: true, workingDirectory: cwd, searchPath: false);
        }
        catch (IOException e)
        {
            throw new GuestException(e.Message, e);
        }
    }
}
