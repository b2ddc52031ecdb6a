using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Images;

/// <summary>
/// Opens files named by untrusted content inside a directory without ever leaving it. <see cref="Resolve"/> serves
/// directories only the agent writes (an OCI layout or an unpacked docker save archive being imported): relative
/// symlinks are followed only while they stay inside, absolute symlinks and ".." escapes are refused.
/// <see cref="ReadFile"/> serves a live container's root, which the container itself may change at any moment: the
/// kernel resolves the path inside the root (openat2), so no symlink or rename race can reach a host file.
/// </summary>
internal static class ContainedPath
{
    private const int MaxSymlinkHops = 40;

    /// <summary>The most the agent reads of one file in a container (/etc/passwd, /etc/group): far above any real one.</summary>
    public const int MaxContainerFileBytes = 4 << 20;

    /// <summary>
    /// Reads <paramref name="relative"/> as a process whose root is <paramref name="root"/> would see it: absolute
    /// symlinks restart at the root, ".." stops there, /proc magic links are refused (openat2 RESOLVE_IN_ROOT |
    /// RESOLVE_NO_MAGICLINKS). The file is opened by path only (O_PATH) and checked to be a regular file before it
    /// is opened for reading, so a FIFO, socket or device is never opened at all and nothing blocks; at most
    /// <paramref name="maxBytes"/> are read. Missing: both null. Refused: <see cref="ContainedFile.Problem"/> says why.
    /// </summary>
    public static unsafe ContainedFile ReadFile(string root, string relative, int maxBytes = MaxContainerFileBytes)
    {
        var rootFd = Libc.open(root, Native.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (rootFd < 0)
        {
            return Libc.LastError is Libc.ENOENT or Native.ENOTDIR ? ContainedFile.Missing : ContainedFile.Refused($"its root {root} cannot be opened: {Libc.ErrorText(Libc.LastError)}");
        }

        try
        {
            int pathFd;
            var attempts = 0;
            do
            {
                // EAGAIN: a rename elsewhere in the root raced the lookup; the kernel asks to retry rather than risk an escape.
                pathFd = Native.OpenAt2(rootFd, relative.TrimStart('/'), Native.O_PATH | Libc.O_CLOEXEC, Native.RESOLVE_IN_ROOT | Native.RESOLVE_NO_MAGICLINKS);
            }
            while (pathFd < 0 && Libc.LastError == Libc.EAGAIN && ++attempts < 16);

            if (pathFd < 0)
            {
                var errno = Libc.LastError;
                return errno switch
                {
                    Libc.ENOENT or Native.ENOTDIR => ContainedFile.Missing,
                    Native.ELOOP => ContainedFile.Refused("it is a loop of symlinks (or a link into /proc)"),
                    Native.ENOSYS => ContainedFile.Refused("this kernel has no openat2 (Linux 5.6 or later is needed to read files inside a container safely)"),
                    _ => ContainedFile.Refused($"it cannot be opened: {Libc.ErrorText(errno)}"),
                };
            }

            try
            {
                var (mode, size) = Native.Stat(pathFd);
                if ((mode & Native.S_IFMT) != Native.S_IFREG)
                {
                    var kind = mode & Native.S_IFMT;
                    return ContainedFile.Refused($"it is {KindOf(mode)}, not a regular file") with { Blocks = kind is Native.S_IFIFO or Native.S_IFSOCK or Native.S_IFCHR or Native.S_IFBLK };
                }

                if (size > maxBytes)
                {
                    return ContainedFile.Refused($"it is {size} bytes, more than the {maxBytes} the agent reads");
                }

                // Reopen the very inode the O_PATH fd holds (no second lookup for the container to race).
                var fd = Libc.open($"/proc/self/fd/{pathFd}", Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
                if (fd < 0)
                {
                    return ContainedFile.Refused($"it cannot be opened: {Libc.ErrorText(Libc.LastError)}");
                }

                try
                {
                    var buffer = new byte[(int)Math.Min(size, maxBytes) + 1];
                    var total = 0;
                    while (true)
                    {
                        if (total == buffer.Length)
                        {
                            if (total > maxBytes)
                            {
                                return ContainedFile.Refused($"it grew past the {maxBytes} bytes the agent reads");
                            }

                            Array.Resize(ref buffer, Math.Min(maxBytes + 1, Math.Max(4096, buffer.Length * 2)));
                        }

                        nint got;
                        fixed (byte* p = &buffer[total])
                        {
                            got = Libc.read(fd, p, (nuint)(buffer.Length - total));
                        }

                        if (got < 0 && Libc.LastError == Libc.EINTR)
                        {
                            continue;
                        }

                        if (got < 0)
                        {
                            return ContainedFile.Refused($"reading it failed: {Libc.ErrorText(Libc.LastError)}");
                        }

                        if (got == 0)
                        {
                            break;
                        }

                        total += (int)got;
                    }

                    return total > maxBytes
                        ? ContainedFile.Refused($"it grew past the {maxBytes} bytes the agent reads")
                        : new ContainedFile(buffer.AsSpan(0, total).ToArray(), null);
                }
                finally
                {
                    Libc.close(fd);
                }
            }
            finally
            {
                Libc.close(pathFd);
            }
        }
        finally
        {
            Libc.close(rootFd);
        }
    }

    private static string KindOf(uint mode) => (mode & Native.S_IFMT) switch
    {
        Native.S_IFDIR => "a directory",
        Native.S_IFIFO => "a FIFO",
        Native.S_IFCHR => "a character device",
        Native.S_IFBLK => "a block device",
        Native.S_IFSOCK => "a socket",
        Native.S_IFLNK => "a symlink",
        _ => "not a regular file",
    };

    /// <summary>
    /// The host path of <paramref name="relative"/> inside <paramref name="root"/>, or null when it would leave it.
    /// With <paramref name="chroot"/>, paths resolve as inside a container whose root is <paramref name="root"/>:
    /// absolute symlinks restart at the root and ".." stops there.
    /// </summary>
    public static string? Resolve(string root, string relative, bool chroot = false)
    {
        var pending = new Stack<string>(Split(relative).Reverse());
        var resolved = new List<string>();
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (resolved.Count == 0)
                {
                    if (chroot)
                    {
                        continue;
                    }

                    return null;
                }

                resolved.RemoveAt(resolved.Count - 1);
                continue;
            }

            var candidate = Path.Combine(root, ArchivePath.Join([.. resolved, part]));
            var target = new FileInfo(candidate).LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }

            if (++hops > MaxSymlinkHops || (target.StartsWith('/') && !chroot))
            {
                return null;
            }

            if (target.StartsWith('/'))
            {
                resolved.Clear();
            }

            foreach (var linkPart in Split(target).Reverse())
            {
                pending.Push(linkPart);
            }
        }

        return Path.Combine(root, ArchivePath.Join(resolved));
    }

    private static IEnumerable<string> Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>A file read inside a container's root: its content, or why it was refused; both null when it does not exist.</summary>
internal sealed record ContainedFile(byte[]? Content, string? Problem)
{
    /// <summary>It is a FIFO, socket or device: a program that opens it the ordinary way (as runc opens /etc/passwd) may wait forever.</summary>
    public bool Blocks { get; init; }

    public static readonly ContainedFile Missing = new(null, null);

    public static ContainedFile Refused(string problem) => new(null, problem);
}
