namespace Portal.Compute.Images;

/// <summary>
/// Opens files named by untrusted manifests inside a directory (an OCI layout or an unpacked docker save
/// archive) without ever leaving it: relative symlinks are followed only while they stay inside, absolute
/// symlinks and ".." escapes are refused.
/// </summary>
internal static class ContainedPath
{
    private const int MaxSymlinkHops = 40;

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
