using System.Globalization;

namespace Portal.Compute.Linux;

/// <summary>One process as the host's /proc shows it.</summary>
internal sealed record HostProcess
{
    public required int Pid { get; init; }
    public required int ParentPid { get; init; }
    /// <summary>The PID in each nested PID namespace, outermost first (NSpid); the last is the innermost.</summary>
    public required IReadOnlyList<int> NamespacePids { get; init; }
    public required string Name { get; init; }
    public required string CommandLine { get; init; }
    public required int Uid { get; init; }
    public required double CpuSeconds { get; init; }
    public required long RssBytes { get; init; }
    public required ulong PidNamespace { get; init; }
}

/// <summary>Reads the host's process table from /proc.</summary>
internal static class ProcessTable
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ is 100 on every Linux ABI we run on.

    public static ulong? PidNamespaceOf(int pid)
    {
        try
        {
            var target = new FileInfo($"/proc/{pid}/ns/pid").LinkTarget; // "pid:[4026531836]"
            return target is null ? null : ParseNamespaceInode(target);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>All processes whose PID namespace is <paramref name="pidNamespace"/>.</summary>
    public static IReadOnlyList<HostProcess> InNamespace(ulong pidNamespace) =>
        All().Where(p => p.PidNamespace == pidNamespace).ToList();

    public static IEnumerable<HostProcess> All()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Read(pid) is { } process)
            {
                yield return process;
            }
        }
    }

    /// <summary>Reads one process; null when it is gone (processes come and go while we read).</summary>
    public static HostProcess? Read(int pid)
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{pid}/status");
            string name = "";
            var ppid = 0;
            var uid = 0;
            long rss = 0;
            IReadOnlyList<int> nspids = [pid];
            foreach (var line in status)
            {
                var colon = line.IndexOf(':');
                if (colon < 0)
                {
                    continue;
                }

                var value = line[(colon + 1)..].Trim();
                switch (line[..colon])
                {
                    case "Name":
                        name = value;
                        break;
                    case "PPid":
                        ppid = int.Parse(value, CultureInfo.InvariantCulture);
                        break;
                    case "Uid":
                        uid = int.Parse(value.Split('\t', ' ')[0], CultureInfo.InvariantCulture);
                        break;
                    case "VmRSS":
                        rss = long.Parse(value.Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                        break;
                    case "NSpid":
                        nspids = value.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                        break;
                }
            }

            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the parenthesised comm, which may itself contain spaces or parentheses.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var cpuTicks = long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
            return new HostProcess
            {
                Pid = pid,
                ParentPid = ppid,
                NamespacePids = nspids,
                Name = name,
                CommandLine = cmdline.Length > 0 ? cmdline : $"[{name}]",
                Uid = uid,
                CpuSeconds = cpuTicks / TicksPerSecond,
                RssBytes = rss,
                PidNamespace = PidNamespaceOf(pid) ?? 0,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static ulong? ParseNamespaceInode(string link)
    {
        var open = link.IndexOf('[');
        var close = link.IndexOf(']');
        return open >= 0 && close > open && ulong.TryParse(link.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : null;
    }
}
