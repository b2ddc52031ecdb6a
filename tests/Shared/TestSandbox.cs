using System.Diagnostics;
using Portal.Compute;

namespace Portal.Tests.Shared;

/// <summary>
/// Private state, run and cgroup locations for one test fixture or benchmark run, and the clean-up that leaves the
/// machine as it was, even when a run failed half way: stray containers' processes, mounts, loop devices (autoclear),
/// directories and cgroups.
/// </summary>
public sealed class TestSandbox
{
    public TestSandbox(string prefix = "portal-test")
    {
        Tag = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
        Options = new ComputeOptions
        {
            StateRoot = Path.Combine(Path.GetTempPath(), Tag, "state"),
            RunRoot = Path.Combine("/run", Tag),
            CgroupParent = Tag,
            ScratchDiskBytes = 1L << 30,
            DefaultStopTimeout = TimeSpan.FromSeconds(5),
        };
    }

    public string Tag { get; }

    public ComputeOptions Options { get; }

    /// <summary>A directory of the caller's own, removed with the sandbox.</summary>
    public string PrivateRoot => Path.Combine(Options.RunRoot, "private");

    public static void RequireRoot()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("These tests drive real containers and need root (CI runs them as root): run ./deploy/portal test as root.");
        }
    }

    /// <summary>Removes everything the sandbox's containers may have left. Safe to call twice.</summary>
    public void Clean()
    {
        // Any monitor or container process still running from this sandbox (a failed test) goes first.
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

        foreach (var hierarchy in CgroupHierarchies())
        {
            var parent = Path.Combine(hierarchy, Tag);
            if (!Directory.Exists(parent))
            {
                continue;
            }

            foreach (var child in Directory.EnumerateDirectories(parent))
            {
                KillCgroup(child);
                RemoveCgroup(child);
            }

            RemoveCgroup(parent);
        }

        foreach (var root in new[] { Options.RunRoot, Path.Combine(Path.GetTempPath(), Tag) })
        {
            foreach (var mount in MountsUnder(root))
            {
                Run("umount", "-l", mount);
            }

            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    public static IReadOnlyList<string> MountsUnder(string root) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal)).Reverse().ToList();

    private static IEnumerable<int> ProcessesMentioning(string tag)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }

            if (cmdline.Contains(tag, StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }

    private static IEnumerable<string> CgroupHierarchies() =>
        Directory.Exists("/sys/fs/cgroup") ? Directory.EnumerateDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup") : [];

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
                Run("kill", "-9", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
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
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.WaitForExit();
    }
}
