using System.Text.Json.Nodes;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// Builds the OCI runtime-spec <c>linux.seccomp</c> object for a container on an x86_64 host.
/// </summary>
/// <remarks>
/// <para>
/// The data is transcribed from Docker's default profile: <c>seccomp/default.json</c> in
/// <c>github.com/moby/profiles/seccomp</c> v0.2.x (the module Docker Engine 29.x vendors; it was split out of
/// <c>moby/moby</c> <c>profiles/seccomp</c> in 2025), resolved for amd64 the way the daemon resolves it:
/// default action EPERM, the x86_64/x86/x32 architectures, no <c>io_uring_*</c> (removed in moby#46762),
/// <c>socket</c> denied for AF_ALG (38) and AF_VSOCK (40) (moby#52494), <c>clone</c> only without namespace flags
/// and <c>clone3</c> answering ENOSYS unless CAP_SYS_ADMIN. Blocks for other architectures are left out.
/// Names the host's libseccomp does not know are skipped by runc and crun, so newer syscalls are listed as-is.
/// </para>
/// <para>
/// Capability-conditional blocks follow moby's <c>includes.caps</c>/<c>excludes.caps</c>: a block with a required
/// capability is emitted only when <paramref name="capabilities"/> holds it, a block with an excluded capability
/// only when it does not. Capability names match case-insensitively, with or without the <c>CAP_</c> prefix.
/// moby's one kernel-conditional block (<c>ptrace</c>, <c>process_vm_readv/writev</c>, kernel 4.8 or later, when
/// ptrace can no longer bypass seccomp) is decided from the host kernel.
/// </para>
/// </remarks>
internal static class SeccompProfile
{
    private const string Allow = "SCMP_ACT_ALLOW";
    private const string Errno = "SCMP_ACT_ERRNO";
    private const int Eperm = 1;
    private const int Enosys = 38;
    private const ulong AfAlg = 38;
    private const ulong AfVsock = 40;

    // CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP.
    private const ulong CloneNamespaceFlags = 0x7E020000;

    private static readonly Version PtraceSafeKernel = new(4, 8);

    private static readonly string[] Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

    /// <summary>Allowed for every container, whatever its capabilities.</summary>
    internal static readonly string[] UnconditionalAllow =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk",
        "cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
        "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
        "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
        "copy_file_range", "creat",
        "dup", "dup2", "dup3",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
        "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
        "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir",
        "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
        "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
        "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue",
        "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
        "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
        "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp",
        "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
        "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
        "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
        "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
        "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
        "io_setup", "io_submit", "ipc",
        "kill",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
        "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
        "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
        "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
        "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
        "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
        "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
        "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
        "open", "openat", "openat2",
        "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
        "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
        "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2",
        "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
        "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat", "rename",
        "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction",
        "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
        "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
        "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
        "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
        "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
        "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat",
        "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
        "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
        "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
        "sysinfo",
        "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
        "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
        "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
        "truncate64",
        "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
        "utimensat_time64", "utimes",
        "vfork", "vmsplice",
        "wait4", "waitid", "waitpid", "write", "writev",
    ];

    // Everything after the unconditional list, in moby's order, with the non-amd64 blocks dropped.
    private static readonly SyscallRule[] Rules =
    [
        new(["process_vm_readv", "process_vm_writev", "ptrace"]) { MinKernel = PtraceSafeKernel },

        // One rule can only AND its conditions, so "not AF_ALG and not AF_VSOCK" is three allowed ranges.
        new(["socket"]) { Args = [new(0, AfAlg, "SCMP_CMP_LT")] },
        new(["socket"]) { Args = [new(0, AfAlg + 1, "SCMP_CMP_EQ")] },
        new(["socket"]) { Args = [new(0, AfVsock, "SCMP_CMP_GT")] },

        // PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26 and the 0xffffffff query.
        new(["personality"]) { Args = [new(0, 0x0, "SCMP_CMP_EQ")] },
        new(["personality"]) { Args = [new(0, 0x0008, "SCMP_CMP_EQ")] },
        new(["personality"]) { Args = [new(0, 0x20000, "SCMP_CMP_EQ")] },
        new(["personality"]) { Args = [new(0, 0x20008, "SCMP_CMP_EQ")] },
        new(["personality"]) { Args = [new(0, 0xFFFFFFFF, "SCMP_CMP_EQ")] },

        new(["arch_prctl"]),
        new(["modify_ldt"]),

        new(["open_by_handle_at"]) { IncludeCap = "CAP_DAC_READ_SEARCH" },
        new([
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
            "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
            "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
        ])
        { IncludeCap = "CAP_SYS_ADMIN" },

        // Without CAP_SYS_ADMIN: threads and forks yes, new namespaces no.
        new(["clone"]) { Args = [new(0, CloneNamespaceFlags, "SCMP_CMP_MASKED_EQ")], ExcludeCap = "CAP_SYS_ADMIN" },

        // clone3 passes its flags in memory seccomp cannot read; ENOSYS makes libc fall back to clone.
        new(["clone3"]) { Action = Errno, ErrnoRet = Enosys, ExcludeCap = "CAP_SYS_ADMIN" },

        new(["reboot"]) { IncludeCap = "CAP_SYS_BOOT" },
        new(["chroot"]) { IncludeCap = "CAP_SYS_CHROOT" },
        new(["delete_module", "init_module", "finit_module"]) { IncludeCap = "CAP_SYS_MODULE" },
        new(["acct"]) { IncludeCap = "CAP_SYS_PACCT" },
        new(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"])
        {
            IncludeCap = "CAP_SYS_PTRACE",
        },
        new(["iopl", "ioperm"]) { IncludeCap = "CAP_SYS_RAWIO" },
        new(["settimeofday", "stime", "clock_settime", "clock_settime64"]) { IncludeCap = "CAP_SYS_TIME" },
        new(["vhangup"]) { IncludeCap = "CAP_SYS_TTY_CONFIG" },
        new(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]) { IncludeCap = "CAP_SYS_NICE" },
        new(["syslog"]) { IncludeCap = "CAP_SYSLOG" },
        new(["bpf"]) { IncludeCap = "CAP_BPF" },
        new(["perf_event_open"]) { IncludeCap = "CAP_PERFMON" },
    ];

    /// <summary>Builds the profile for a container holding <paramref name="capabilities"/> on this host.</summary>
    public static JsonObject Build(IReadOnlyCollection<string> capabilities)
    {
        // On Linux this is the running kernel's release (uname -r), e.g. 6.8.0.
        return Build(capabilities, Environment.OSVersion.Version);
    }

    /// <summary>Builds the profile as it would be on a host running <paramref name="hostKernel"/>.</summary>
    internal static JsonObject Build(IReadOnlyCollection<string> capabilities, Version hostKernel)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        ArgumentNullException.ThrowIfNull(hostKernel);

        var held = new HashSet<string>(capabilities.Select(NormalizeCapability), StringComparer.Ordinal);

        var syscalls = new JsonArray { ToJson(new SyscallRule(UnconditionalAllow)) };
        foreach (var rule in Rules)
        {
            if (Applies(rule, held, hostKernel))
            {
                syscalls.Add(ToJson(rule));
            }
        }

        return new JsonObject
        {
            ["defaultAction"] = Errno,
            ["defaultErrnoRet"] = Eperm,
            ["architectures"] = StringArray(Architectures),
            ["syscalls"] = syscalls,
        };
    }

    private static bool Applies(SyscallRule rule, HashSet<string> held, Version hostKernel)
    {
        if (rule.IncludeCap is not null && !held.Contains(rule.IncludeCap))
        {
            return false;
        }

        if (rule.ExcludeCap is not null && held.Contains(rule.ExcludeCap))
        {
            return false;
        }

        return rule.MinKernel is null || hostKernel >= rule.MinKernel;
    }

    private static string NormalizeCapability(string capability)
    {
        var upper = capability.Trim().ToUpperInvariant();
        return upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper;
    }

    private static JsonObject ToJson(SyscallRule rule)
    {
        var json = new JsonObject
        {
            ["names"] = StringArray(rule.Names),
            ["action"] = rule.Action,
        };

        if (rule.ErrnoRet is { } errnoRet)
        {
            json["errnoRet"] = errnoRet;
        }

        if (rule.Args.Length > 0)
        {
            var args = new JsonArray();
            foreach (var arg in rule.Args)
            {
                args.Add(new JsonObject
                {
                    ["index"] = arg.Index,
                    ["value"] = arg.Value,
                    ["valueTwo"] = arg.ValueTwo,
                    ["op"] = arg.Op,
                });
            }

            json["args"] = args;
        }

        return json;
    }

    private static JsonArray StringArray(IEnumerable<string> values)
    {
        var array = new JsonArray();
        foreach (var value in values)
        {
            array.Add(value);
        }

        return array;
    }

    private sealed record SyscallRule(string[] Names)
    {
        public string Action { get; init; } = Allow;

        public int? ErrnoRet { get; init; }

        public ArgFilter[] Args { get; init; } = [];

        /// <summary>moby <c>includes.caps</c>: emitted only when the container holds this capability.</summary>
        public string? IncludeCap { get; init; }

        /// <summary>moby <c>excludes.caps</c>: emitted only when the container lacks this capability.</summary>
        public string? ExcludeCap { get; init; }

        /// <summary>moby <c>includes.minKernel</c>.</summary>
        public Version? MinKernel { get; init; }
    }

    private sealed record ArgFilter(uint Index, ulong Value, string Op, ulong ValueTwo = 0);
}
