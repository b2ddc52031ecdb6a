using System.Globalization;
using Portal.Contracts.Guest;
using Portal.Guest.Containers;

namespace Portal.Guest.Processes;

/// <summary>One line of /proc/PID/stat, the fields the listings need (times in clock ticks, rss in pages).</summary>
internal sealed record ProcStat(int Pid, string Name, int ParentPid, uint Flags, long UserTicks, long SystemTicks, long ChildUserTicks, long ChildSystemTicks, long RssPages)
{
    private const uint KernelThreadFlag = 0x00200000;

    public bool IsKernelThread => (Flags & KernelThreadFlag) != 0 || Pid == 2 || ParentPid == 2;

    /// <summary>Parses a stat line; the name sits in parentheses and may itself contain spaces and parentheses.</summary>
    public static ProcStat? Parse(string line)
    {
        var open = line.IndexOf('(', StringComparison.Ordinal);
        var close = line.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            return null;
        }

        var rest = line[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length < 22 || !int.TryParse(line.AsSpan(0, open).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
        {
            return null;
        }

        // rest[k - 3] is field k of proc(5): 4 ppid, 9 flags, 14 utime, 15 stime, 16 cutime, 17 cstime, 24 rss.
        return new ProcStat(
            pid,
            line[(open + 1)..close],
            Int(rest[1]),
            (uint)Long(rest[6]),
            Long(rest[11]),
            Long(rest[12]),
            Long(rest[13]),
            Long(rest[14]),
            Long(rest[21]));
    }

    private static int Int(string s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static long Long(string s) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
}

/// <summary>Process listings and statistics from the guest's /proc: every process but the agent and kernel threads.</summary>
internal static class ProcessTable
{
    /// <summary>USER_HZ is 100 on x86-64.</summary>
    private const double TicksPerSecond = 100.0;

    private const long PageSize = 4096;

    public static IReadOnlyList<GuestProcessInfo> List(string procRoot = "/proc", string passwdPath = "/etc/passwd")
    {
        var names = UserResolver.UserNames(ContainerFiles.ReadOrEmpty(passwdPath));
        var list = new List<GuestProcessInfo>();
        foreach (var stat in ContainerProcesses(procRoot))
        {
            var uid = EffectiveUid(procRoot, stat.Pid);
            var commandLine = ContainerFiles.ReadOrEmpty($"{procRoot}/{stat.Pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
            list.Add(new GuestProcessInfo
            {
                Pid = stat.Pid,
                ParentPid = stat.ParentPid,
                User = uid is { } u ? (names.TryGetValue(u, out var n) ? n : u.ToString(CultureInfo.InvariantCulture)) : "?",
                Name = stat.Name,
                CommandLine = commandLine.Length > 0 ? commandLine : $"[{stat.Name}]",
                CpuSeconds = (stat.UserTicks + stat.SystemTicks) / TicksPerSecond,
                MemoryBytes = stat.RssPages * PageSize,
            });
        }

        return list;
    }

    public static GuestStatistics Statistics(string procRoot = "/proc")
    {
        // Live processes' own and waited-for children's time, plus what the agent reaped (orphans and our children).
        long ticks = 0;
        long count = 0;
        foreach (var stat in ContainerProcesses(procRoot))
        {
            ticks += stat.UserTicks + stat.SystemTicks + stat.ChildUserTicks + stat.ChildSystemTicks;
            count++;
        }

        if (ProcStat.Parse(ContainerFiles.ReadOrEmpty($"{procRoot}/{Environment.ProcessId}/stat")) is { } self)
        {
            ticks += self.ChildUserTicks + self.ChildSystemTicks;
        }

        var (total, available) = ParseMemInfo(ContainerFiles.ReadOrEmpty($"{procRoot}/meminfo"));
        return new GuestStatistics
        {
            CpuSeconds = ticks / TicksPerSecond,
            MemoryBytes = total - available,
            MemoryTotalBytes = total,
            Pids = count,
        };
    }

    public static (long Total, long Available) ParseMemInfo(string meminfo)
    {
        long total = 0;
        long available = 0;
        foreach (var line in meminfo.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib))
            {
                if (parts[0] == "MemTotal:")
                {
                    total = kib * 1024;
                }
                else if (parts[0] == "MemAvailable:")
                {
                    available = kib * 1024;
                }
            }
        }

        return (total, available);
    }

    /// <summary>Pids of every container process (not the agent, not kernel threads).</summary>
    public static IEnumerable<ProcStat> ContainerProcesses(string procRoot = "/proc")
    {
        if (!Directory.Exists(procRoot))
        {
            yield break;
        }

        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories(procRoot))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == self)
            {
                continue;
            }

            if (ProcStat.Parse(ContainerFiles.ReadOrEmpty($"{dir}/stat")) is { IsKernelThread: false } stat)
            {
                yield return stat;
            }
        }
    }

    private static uint? EffectiveUid(string procRoot, int pid)
    {
        foreach (var line in ContainerFiles.ReadOrEmpty($"{procRoot}/{pid}/status").Split('\n'))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 2 && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                {
                    return uid;
                }
            }
        }

        return null;
    }
}
