using System.Globalization;

namespace Portal.Compute.Linux;

public enum CgroupMode
{
    V1,
    Hybrid,
    V2,
}

/// <summary>The host's cgroup layout, and a container's usage read from whichever hierarchy holds each controller.</summary>
internal sealed class CgroupHost
{
    private const string Root = "/sys/fs/cgroup";

    private CgroupHost(CgroupMode mode) => Mode = mode;

    public CgroupMode Mode { get; }

    public static CgroupHost Detect()
    {
        if (File.Exists(Path.Combine(Root, "cgroup.controllers")))
        {
            return new CgroupHost(CgroupMode.V2);
        }

        return new CgroupHost(Directory.Exists(Path.Combine(Root, "unified")) ? CgroupMode.Hybrid : CgroupMode.V1);
    }

    public sealed record Usage(double CpuSeconds, long MemoryBytes, long Pids);

    /// <summary>Usage of the cgroup that <paramref name="pid"/> lives in (the container's).</summary>
    public Usage? Read(int pid)
    {
        try
        {
            var paths = ParseProcCgroup(File.ReadAllLines($"/proc/{pid}/cgroup"));
            if (Mode == CgroupMode.V2)
            {
                var dir = Root + paths[""];
                var stat = ReadKeyValues(Path.Combine(dir, "cpu.stat"));
                var memory = ReadLong(Path.Combine(dir, "memory.current"));
                var inactive = ReadKeyValues(Path.Combine(dir, "memory.stat")).GetValueOrDefault("inactive_file");
                return new Usage(stat.GetValueOrDefault("usage_usec") / 1e6, Math.Max(0, memory - inactive), ReadLong(Path.Combine(dir, "pids.current")));
            }

            var cpu = ReadLong(Path.Combine(Root, "cpuacct", paths.GetValueOrDefault("cpuacct", paths.GetValueOrDefault("cpu,cpuacct", "/")).TrimStart('/'), "cpuacct.usage"));
            var memoryDir = Path.Combine(Root, "memory", paths.GetValueOrDefault("memory", "/").TrimStart('/'));
            var usage = ReadLong(Path.Combine(memoryDir, "memory.usage_in_bytes"));
            var inactiveV1 = ReadKeyValues(Path.Combine(memoryDir, "memory.stat")).GetValueOrDefault("total_inactive_file");
            var pids = ReadLong(Path.Combine(Root, "pids", paths.GetValueOrDefault("pids", "/").TrimStart('/'), "pids.current"));
            return new Usage(cpu / 1e9, Math.Max(0, usage - inactiveV1), pids);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Controller list ("" for the v2 hierarchy) to path, from /proc/PID/cgroup.</summary>
    internal static Dictionary<string, string> ParseProcCgroup(IEnumerable<string> lines)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
            {
                continue;
            }

            result[parts[1]] = parts[2];
            foreach (var controller in parts[1].Split(','))
            {
                result.TryAdd(controller, parts[2]);
            }
        }

        return result;
    }

    private static long ReadLong(string path) => long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static Dictionary<string, long> ReadKeyValues(string path)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return result;
        }

        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                result[parts[0]] = v;
            }
        }

        return result;
    }
}
