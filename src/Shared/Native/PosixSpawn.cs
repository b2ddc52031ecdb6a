namespace Portal.Shared.Native;

/// <summary>
/// posix_spawn with what both the host and the guest need and System.Diagnostics.Process cannot express: chosen files
/// as the child's fds (a sync pipe, a terminal), a new session, a working directory. Signal dispositions and the mask
/// are reset, so a child never inherits the runtime's ignored SIGPIPE. posix_spawn, not fork: a NativeAOT or .NET
/// process must not run managed code in a forked child.
/// </summary>
internal static unsafe class PosixSpawn
{
    /// <summary>Starts <paramref name="file"/> and returns its pid; an IOException says which step failed and why.</summary>
    /// <param name="searchPath">Look a bare name up in PATH (posix_spawnp); the guest passes absolute paths it resolved in the container.</param>
    public static int Spawn(
        string file,
        IReadOnlyList<string> argv,
        IReadOnlyList<string> env,
        IReadOnlyList<SpawnFile> files,
        bool newSession,
        string? workingDirectory = null,
        bool searchPath = true)
    {
        var attr = stackalloc byte[1024];
        var actions = stackalloc byte[1024];
        var sigset = stackalloc byte[256];
        Check(Libc.posix_spawnattr_init(attr), "posix_spawnattr_init");
        Check(Libc.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
        using var strings = new CStringArena();
        try
        {
            Libc.sigfillset(sigset);
            Check(Libc.posix_spawnattr_setsigdefault(attr, sigset), "posix_spawnattr_setsigdefault");
            Libc.sigemptyset(sigset);
            Check(Libc.posix_spawnattr_setsigmask(attr, sigset), "posix_spawnattr_setsigmask");
            var flags = (short)(Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK | (newSession ? Libc.POSIX_SPAWN_SETSID : 0));
            Check(Libc.posix_spawnattr_setflags(attr, flags), "posix_spawnattr_setflags");
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

            if (workingDirectory is not null)
            {
                Check(Libc.posix_spawn_file_actions_addchdir_np(actions, workingDirectory), "posix_spawn_file_actions_addchdir_np");
            }

            int pid;
            var path = strings.String(file);
            var args = strings.Array(argv);
            var envp = strings.Array(env);
            var result = searchPath
                ? Libc.posix_spawnp(&pid, path, actions, attr, args, envp)
                : Libc.posix_spawn(&pid, path, actions, attr, args, envp);
            Check(result, workingDirectory is null ? $"cannot start {file}" : $"cannot start {file} (cwd {workingDirectory})");
            return pid;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(actions);
            Libc.posix_spawnattr_destroy(attr);
        }
    }

    // posix_spawn* return the error number instead of setting errno.
    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw Libc.Fail(what, result);
        }
    }
}
