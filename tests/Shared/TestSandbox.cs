using System.Diagnostics;
using System.Globalization;
using Portal.Compute;
using Portal.Compute.Networking;

namespace Portal.Tests.Shared;

/// <summary>
/// Private state, run and cgroup locations for one test fixture or benchmark run, and the clean-up that leaves the
/// machine as it was, even when a run failed half way: stray containers' and agents' processes, mounts, loop devices,
/// directories and cgroups; <see cref="Leftovers"/> reports anything that is still there.
/// </summary>
public sealed class TestSandbox
{
    private const string OwnerFile = "owner";

    private static readonly Lazy<int> StaleCleaned = new(CleanStale);

    public TestSandbox(string prefix = "portal-test")
        : this($"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)], claim: true)
    {
    }

    private TestSandbox(string tag, bool claim)
    {
        Tag = tag;
        var hex = Tag[^8..];
        Options = new ComputeOptions
        {
            // Its own interface names, nftables table and address pool: concurrent sandboxes never meet. No ip_forward
            // changes: tests reach only the host and containers, never beyond.
            Networking = new NetworkOptions
            {
                InterfacePrefix = "t" + hex[..5],
                NftTable = "portal_" + hex,
                AddressPool = $"10.{100 + (Convert.ToInt32(hex[..2], 16) % 150)}.0.0/16",
                EnableIpForward = false,
            },
            StateRoot = Path.Combine(Path.GetTempPath(), Tag, "state"),
            RunRoot = Path.Combine("/run", Tag),
            CgroupParent = Tag,
            ScratchDiskBytes = 1L << 30,
            DefaultStopTimeout = TimeSpan.FromSeconds(5),
            GuestKernel = GuestBuild.Kernel,
            GuestInitramfs = GuestBuild.Initramfs,
        };
        if (claim && Environment.UserName == "root")
        {
            _ = StaleCleaned.Value;
            Directory.CreateDirectory(RunRoot);
            File.WriteAllText(Path.Combine(RunRoot, OwnerFile), Self());
        }
    }

    public string Tag { get; }

    /// <summary>Compute settings pointing at the sandbox (private state and run roots, its own cgroup parent).</summary>
    public ComputeOptions Options { get; }

    public string StateRoot => Options.StateRoot;

    public string RunRoot => Options.RunRoot;

    public string CgroupParent => Options.CgroupParent;

    public NetworkOptions Networking => Options.Networking;

    /// <summary>A directory of the caller's own, removed with the sandbox.</summary>
    public string PrivateRoot => Path.Combine(RunRoot, "private");

    /// <summary>The sandbox's folder under the temp directory (removed by Clean).</summary>
    public string TempRoot => Path.Combine(Path.GetTempPath(), Tag);

    public static void RequireRoot()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("This drives real containers (loop devices, mounts, cgroups, VMs) and needs root: run ./deploy/portal test (or the bench) as root.");
        }
    }

    /// <summary>Removes everything the sandbox's agent and containers may have left. Safe to call twice.</summary>
    public void Clean()
    {
        // Any agent, monitor or container process still running from this sandbox goes first.
        foreach (var pid in ProcessesMentioning(Tag))
        {
            try
            {
                Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }

        foreach (var parent in CgroupsOf(Tag))
        {
            foreach (var child in Directory.EnumerateDirectories(parent))
            {
                KillCgroup(child);
                RemoveCgroup(child);
            }

            RemoveCgroup(parent);
        }

        foreach (var root in new[] { RunRoot, TempRoot })
        {
            foreach (var mount in MountsUnder(root))
            {
                Run("umount", "-l", mount);
            }
        }

        // Bridges, veths and taps of the sandbox's switches, and its nftables table.
        foreach (var link in LinksOf(Networking.InterfacePrefix))
        {
            Run("ip", "link", "del", link);
        }

        Run("nft", "delete", "table", "ip", Networking.NftTable);
        Run("nft", "delete", "table", "bridge", Networking.NftTable);

        // Autoclear frees a loop device once its lazy unmount lets go; one the agent attached but never mounted stays.
        foreach (var device in LoopDevicesUnder([RunRoot, TempRoot]))
        {
            Run("losetup", "-d", device);
        }

        foreach (var root in new[] { RunRoot, TempRoot })
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    /// <summary>What is still there after <see cref="Clean"/>, one line per kind; empty when the machine is as it was.</summary>
    public IReadOnlyList<string> Leftovers()
    {
        var left = new List<string>();
        void Add(string what, IReadOnlyCollection<string> items)
        {
            if (items.Count > 0)
            {
                left.Add($"{items.Count} {what}: {string.Join(", ", items.Take(5))}{(items.Count > 5 ? " ..." : "")}");
            }
        }

        Add("processes", ProcessesMentioning(Tag).Select(p => p.ToString(CultureInfo.InvariantCulture)).ToList());
        Add("mounts", MountsUnder(RunRoot).Concat(MountsUnder(TempRoot)).ToList());
        Add("loop devices", LoopDevicesUnder([RunRoot, TempRoot]));
        Add("cgroups", CgroupsOf(Tag).ToList());
        Add("network interfaces", LinksOf(Networking.InterfacePrefix));
        Add("nftables tables", NftTableExists(Networking.NftTable) ? [Networking.NftTable] : []);
        Add("nftables bridge tables", NftTableExists(Networking.NftTable, "bridge") ? [Networking.NftTable] : []);
        Add("directories", new[] { RunRoot, TempRoot }.Where(Directory.Exists).ToList());
        return left;
    }

    /// <summary>
    /// What the sandbox's containers hold on the host right now, one line per item (mounts, loop devices, container
    /// cgroups, network interfaces, nftables rules, container directories, processes other than <paramref name="exceptPid"/>):
    /// two snapshots of an idle agent differ by what a crash left behind.
    /// </summary>
    public IReadOnlySet<string> Snapshot(int exceptPid)
    {
        var items = new SortedSet<string>(StringComparer.Ordinal);
        items.UnionWith(MountsUnder(RunRoot).Concat(MountsUnder(TempRoot)).Select(m => "mount " + m));
        items.UnionWith(LoopDevicesUnder([RunRoot, TempRoot]).Select(d => "loop device " + d));
        items.UnionWith(CgroupsOf(Tag).SelectMany(Directory.EnumerateDirectories).Select(c => "cgroup " + c));
        items.UnionWith(LinksOf(Networking.InterfacePrefix).Select(l => "interface " + l));
        items.UnionWith(NftRules("ip", Networking.NftTable).Select(r => "nft rule " + r));
        items.UnionWith(NftRules("bridge", Networking.NftTable).Select(r => "nft bridge rule " + r));
        var containers = Path.Combine(StateRoot, "containers");
        items.UnionWith((Directory.Exists(containers) ? Directory.EnumerateDirectories(containers) : []).Select(d => "container directory " + d));
        items.UnionWith(ProcessesMentioning(Tag).Where(p => p != exceptPid).Select(p => $"process {p} {CommandOf(p)}"));
        return items;
    }

    private static string CommandOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "(gone)";
        }
    }

    /// <summary>The rules of an nftables table without their handles and counters, one line each.</summary>
    private static IEnumerable<string> NftRules(string family, string table)
    {
        string text;
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nft", ["list", "table", family, table]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            text = process.StandardOutput.ReadToEnd();
            process.StandardError.ReadToEnd();
            process.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            yield break;
        }

        foreach (var line in text.Split('\n').Select(l => l.Trim()))
        {
            if (line.Length > 0 && !line.EndsWith('{') && line != "}" && !line.StartsWith("type ", StringComparison.Ordinal) && !line.StartsWith("flags ", StringComparison.Ordinal))
            {
                yield return System.Text.RegularExpressions.Regex.Replace(line, @"counter packets \d+ bytes \d+", "counter");
            }
        }
    }

    /// <summary>
    /// Cleans up after earlier runs that could not (a test host killed by a timeout, a machine reset): every sandbox whose
    /// owning process is gone. Once per process, before its first sandbox; sandboxes of live runs are left alone.
    /// </summary>
    public static int CleanStale()
    {
        var tags = new[] { "/run", Path.GetTempPath() }
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .Select(d => Path.GetFileName(d.TrimEnd('/')))
            .Where(IsSandboxName)
            .Distinct()
            .ToList();
        var cleaned = 0;
        foreach (var sandbox in tags.Select(t => new TestSandbox(t, claim: false)).Where(s => s.IsStale()))
        {
            Console.Error.WriteLine($"Cleaning up sandbox {sandbox.Tag}, left by an earlier run whose process is gone");
            try
            {
                sandbox.Clean();
                cleaned++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another test process starting at the same moment cleans the same sandbox: whoever is second finds less.
            }
        }

        return cleaned;
    }

    /// <summary>
    /// A directory name <see cref="CleanStale"/> takes for a sandbox (and removes, killing every process that names it,
    /// when it has no live owner): other test fixtures keep their directories out of this pattern.
    /// </summary>
    public static bool IsSandboxName(string name) => System.Text.RegularExpressions.Regex.IsMatch(name, "^portal-[a-z-]+-[0-9a-f]{8}$");

    /// <summary>Its owner (pid and start time) is no longer running; a sandbox without an owner file is stale after a minute.</summary>
    private bool IsStale()
    {
        var owner = Path.Combine(RunRoot, OwnerFile);
        if (File.Exists(owner))
        {
            var text = File.ReadAllText(owner).Trim().Split(' ');
            return text.Length != 2 || !int.TryParse(text[0], out var pid) || StartTime(pid) != text[1];
        }

        var newest = new[] { RunRoot, TempRoot }.Where(Directory.Exists).Select(Directory.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();
        return DateTime.UtcNow - newest > TimeSpan.FromMinutes(1);
    }

    private static string Self() => $"{Environment.ProcessId} {StartTime(Environment.ProcessId)}";

    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when it is gone.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The host's network interfaces whose names start with <paramref name="prefix"/>.</summary>
    public static IReadOnlyList<string> LinksOf(string prefix) =>
        Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName).Where(n => n!.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n!).ToList();

    public static bool NftTableExists(string table, string family = "ip")
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nft", ["list", "table", family, table]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.StandardOutput.ReadToEnd(); // a long table would fill the pipe and never let nft exit
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // nft is not installed: no table of ours either
        }
    }

    public static IReadOnlyList<string> MountsUnder(string root) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal)).Reverse().ToList();

    /// <summary>Loop devices whose backing file lies under one of <paramref name="roots"/> (even if deleted since).</summary>
    private static List<string> LoopDevicesUnder(IReadOnlyList<string> roots)
    {
        var devices = new List<string>();
        if (!Directory.Exists("/sys/block"))
        {
            return devices;
        }

        foreach (var block in Directory.EnumerateDirectories("/sys/block", "loop*"))
        {
            string backing;
            try
            {
                backing = File.ReadAllText(Path.Combine(block, "loop", "backing_file")).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // not attached
            }

            if (roots.Any(r => backing.StartsWith(r + "/", StringComparison.Ordinal)))
            {
                devices.Add("/dev/" + Path.GetFileName(block));
            }
        }

        return devices;
    }

    private static IEnumerable<int> ProcessesMentioning(string tag)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            // The command line names the sandbox for conmon and the runtime; an agent gets its paths in its environment.
            string cmdline, environment;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                environment = File.ReadAllText(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (cmdline.Contains(tag, StringComparison.Ordinal) || environment.Contains(tag, StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }

    private static IEnumerable<string> CgroupsOf(string tag) =>
        (Directory.Exists("/sys/fs/cgroup") ? Directory.EnumerateDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup") : [])
            .Select(h => Path.Combine(h, tag))
            .Where(Directory.Exists);

    private static void KillCgroup(string cgroup)
    {
        var procs = Path.Combine(cgroup, "cgroup.procs");
        if (!File.Exists(procs))
        {
            return;
        }

        foreach (var line in File.ReadAllLines(procs))
        {
            if (int.TryParse(line, out var pid))
            {
                Run("kill", "-9", pid.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private static void RemoveCgroup(string path)
    {
        for (var i = 0; i < 20; i++)
        {
            try
            {
                Directory.Delete(path); // rmdir: a cgroup's files go with it
                return;
            }
            catch (IOException)
            {
                Thread.Sleep(50); // its last process may still be exiting
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }

    private static void Run(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not installed (nft on a host without nftables): nothing of that kind to clean.
        }
    }
}
