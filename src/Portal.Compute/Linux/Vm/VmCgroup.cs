using System.Globalization;
using Portal.Shared.Native;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// The VM worker's own cgroup ("/&lt;parent&gt;/&lt;id&gt;@vm" in every hierarchy that matters), holding QEMU to the guest's RAM plus
/// its overhead. Works on cgroup v1, hybrid and v2 hosts.
/// </summary>
internal sealed class VmCgroup
{
    private const string Root = "/sys/fs/cgroup";
    private static readonly string[] V1Controllers = ["memory", "pids", "cpu", "cpuacct"];

    private VmCgroup(IReadOnlyList<string> directories) => Directories = directories;

    /// <summary>The cgroup's directory in each hierarchy; the worker's pid goes into each cgroup.procs.</summary>
    public IReadOnlyList<string> Directories { get; }

    public static string Name(string containerId) => containerId + "@vm";

    public static VmCgroup For(CgroupMode mode, string parent, string containerId)
    {
        var relative = Path.Combine(parent, Name(containerId));
        if (mode == CgroupMode.V2)
        {
            return new VmCgroup([Path.Combine(Root, relative)]);
        }

        var dirs = V1Controllers.Select(c => Path.Combine(Root, c)).Where(Directory.Exists).Select(h => Path.Combine(h, relative)).ToList();
        if (mode == CgroupMode.Hybrid && Directory.Exists(Path.Combine(Root, "unified")))
        {
            dirs.Add(Path.Combine(Root, "unified", relative));
        }

        return new VmCgroup(dirs);
    }

    /// <summary>Creates the cgroup and sets its limits (memory always; cpu when the container has a CPU limit).</summary>
    public void Create(CgroupMode mode, long memoryLimitBytes, double? cpus)
    {
        var memory = memoryLimitBytes.ToString(CultureInfo.InvariantCulture);
        foreach (var dir in Directories)
        {
            if (mode == CgroupMode.V2)
            {
                EnableControllers(Path.GetDirectoryName(Path.GetDirectoryName(dir)!)!);
                EnableControllers(Path.GetDirectoryName(dir)!);
            }

            Directory.CreateDirectory(dir);
            if (File.Exists(Path.Combine(dir, "memory.max")))
            {
                File.WriteAllText(Path.Combine(dir, "memory.max"), memory);
                TryWrite(Path.Combine(dir, "memory.swap.max"), "0");
                if (cpus is { } c)
                {
                    TryWrite(Path.Combine(dir, "cpu.max"), $"{(long)(c * 100_000)} 100000");
                }
            }
            else if (File.Exists(Path.Combine(dir, "memory.limit_in_bytes")))
            {
                File.WriteAllText(Path.Combine(dir, "memory.limit_in_bytes"), memory);
            }
            else if (cpus is { } c && File.Exists(Path.Combine(dir, "cpu.cfs_quota_us")))
            {
                TryWrite(Path.Combine(dir, "cpu.cfs_period_us"), "100000");
                TryWrite(Path.Combine(dir, "cpu.cfs_quota_us"), ((long)(c * 100_000)).ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>The cgroup.procs files a process writes its own pid to, to move itself in.</summary>
    public IEnumerable<string> ProcsFiles => Directories.Select(d => Path.Combine(d, "cgroup.procs"));

    /// <summary>Bytes charged to the worker (its RSS, page cache of its disks): from the memory controller.</summary>
    public long? MemoryUsage()
    {
        foreach (var dir in Directories)
        {
            foreach (var file in new[] { "memory.current", "memory.usage_in_bytes" })
            {
                var path = Path.Combine(dir, file);
                if (File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes))
                {
                    return bytes;
                }
            }
        }

        return null;
    }

    /// <summary>Kills whatever is still inside and removes the cgroup. Idempotent.</summary>
    public async Task RemoveAsync(CancellationToken ct)
    {
        foreach (var dir in Directories)
        {
            for (var attempt = 0; Directory.Exists(dir); attempt++)
            {
                foreach (var pid in Pids(dir))
                {
                    Libc.kill(pid, 9);
                }

                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException) when (attempt < 40)
                {
                    await Task.Delay(50, ct).ConfigureAwait(false); // the last process may still be exiting
                }
                catch (DirectoryNotFoundException)
                {
                }
            }
        }
    }

    private static IEnumerable<int> Pids(string dir)
    {
        try
        {
            return File.ReadAllLines(Path.Combine(dir, "cgroup.procs"))
                .Select(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : 0)
                .Where(p => p > 0)
                .ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static void EnableControllers(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var controller in new[] { "+memory", "+pids", "+cpu" })
        {
            TryWrite(Path.Combine(dir, "cgroup.subtree_control"), controller);
        }
    }

    private static void TryWrite(string path, string value)
    {
        try
        {
            File.WriteAllText(path, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Optional limits and controllers: a host without them still runs the VM, held by its memory limit.
        }
    }
}
