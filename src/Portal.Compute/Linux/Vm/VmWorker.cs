using System.Globalization;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using Portal.Shared.Native;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// The VM worker process (vmwp): one QEMU per container, in its own session so it outlives the agent, in its own cgroup,
/// named "vmwp-&lt;id12&gt;" in ps/top, and confined as Firecracker's jailer confines its VMM: its own mount, network,
/// IPC and UTS namespaces, chrooted into an empty read-only jail and dropped to its own unprivileged uid (unique among
/// the running workers, <see cref="VmWorkerUids"/>) before the guest runs.
/// </summary>
internal sealed class VmWorker
{
    public const string SocketName = "g.sock";
    public const string PidFileName = "worker.pid";
    public const string ConsoleName = "console.log";
    public const string JailName = "jail";

    /// <summary>
    /// Between unshare and QEMU, in the worker's new mount namespace: the jail becomes an empty read-only tmpfs of its
    /// own (whatever the host directory holds), then QEMU starts with only the jail's capabilities: chroot, and dropping
    /// to its account. QEMU's own -chroot and -runas use them once it has opened everything, before the guest runs.
    /// </summary>
    private const string JailScript = "mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,nr_inodes=1,mode=0555 portal-jail \"$0\" && exec \"$@\"";

    private VmWorker(string containerId, int pid, Task<int?> exited)
    {
        ContainerId = containerId;
        Pid = pid;
        Exited = exited;
    }

    public string ContainerId { get; }

    public int Pid { get; }

    /// <summary>Completes when QEMU is gone: with its exit status when the agent started it (128+signal when killed), else null.</summary>
    public Task<int?> Exited { get; }

    public bool IsAlive => IsWorker(Pid, ContainerId);

    public sealed record Launch
    {
        public required VmWorkerSpec Spec { get; init; }
        public required string QemuPath { get; init; }
        public required string SetprivPath { get; init; }
        public required string UnsharePath { get; init; }
        public required string RunDirectory { get; init; }
        public required string ImageDiskPath { get; init; }
        public required string ScratchDiskPath { get; init; }
        public required IEnumerable<string> CgroupProcsFiles { get; init; }
        /// <summary>The container's tap (with <see cref="VmWorkerSpec.MacAddress"/>); the worker gets its own copy.</summary>
        public SafeFileHandle? Tap { get; init; }
    }

    /// <summary>The preferred account of a VM, derived from the container id; <see cref="VmWorkerUids"/> makes it unique.</summary>
    public static uint UidFor(string containerId, uint uidBase) =>
        uidBase + uint.Parse(containerId.AsSpan(0, 6), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public static VmWorker Start(Launch launch)
    {
        var dir = launch.RunDirectory;
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var socketPath = Path.Combine(dir, SocketName);
        if (System.Text.Encoding.UTF8.GetByteCount(socketPath) > 107)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The guest channel path '{socketPath}' is longer than a unix socket allows; use a shorter RunRoot.");
        }

        File.Delete(socketPath);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // Bind under a temporary name and rename: disposing a bound Socket unlinks the name it bound, and QEMU keeps listening.
        var bindPath = Path.Combine(dir, "g.tmp");
        File.Delete(bindPath);
        socket.Bind(new UnixDomainSocketEndPoint(bindPath));
        File.SetUnixFileMode(bindPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        socket.Listen(4);
        File.Move(bindPath, socketPath);

        using var image = File.OpenHandle(launch.ImageDiskPath, FileMode.Open, FileAccess.Read);
        using var scratch = File.OpenHandle(launch.ScratchDiskPath, FileMode.Open, FileAccess.ReadWrite);
        using var scratchReadOnly = File.OpenHandle(launch.ScratchDiskPath, FileMode.Open, FileAccess.Read);
        using var console = File.OpenHandle(Path.Combine(dir, ConsoleName), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

        // The shell moves itself into the VM cgroup as root (everything QEMU allocates is charged there from the start),
        // unshare gives it its own mount, network, IPC and UTS namespaces (no network but the tap it is handed), the jail
        // script mounts its empty root, setpriv leaves it only the capabilities to chroot and drop to its account, and
        // QEMU does both before the guest runs: from then on it holds no capability, no host file and no way back.
        var jail = launch.Spec.JailDirectory;
        Directory.CreateDirectory(jail, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var argv = new List<string>
        {
            "/bin/sh", "-c", "for p in $PORTAL_CGROUP_PROCS; do echo $$ > \"$p\" || exit 125; done; exec \"$@\"", QemuCommandLine.ProcessName(launch.Spec.ContainerId),
            launch.UnsharePath, "--mount", "--net", "--ipc", "--uts", "--propagation", "private", "--",
            "/bin/sh", "-c", JailScript, jail,
            launch.SetprivPath, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all,+sys_chroot,+setuid,+setgid", "--",
            launch.QemuPath,
        };
        argv.AddRange(QemuCommandLine.Build(launch.Spec));
        var env = new[] { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PORTAL_CGROUP_PROCS=" + string.Join(' ', launch.CgroupProcsFiles) };
        var files = new List<SpawnFile>
        {
            new(0, Path: "/dev/null", Flags: Libc.O_RDONLY),
            new(1, ParentFd: Fd(console)),
            new(2, ParentFd: Fd(console)),
            new(QemuCommandLine.SocketFd, ParentFd: (int)socket.Handle),
            new(QemuCommandLine.ImageFd, ParentFd: Fd(image)),
            new(QemuCommandLine.ScratchFd, ParentFd: Fd(scratch)),
            new(QemuCommandLine.ScratchReadOnlyFd, ParentFd: Fd(scratchReadOnly)),
        };
        if (launch.Tap is { } tap)
        {
            files.Add(new(QemuCommandLine.TapFd, ParentFd: Fd(tap)));
        }

        var pid = PosixSpawn.Spawn("/bin/sh", argv, env, files, newSession: true);
        WritePidFile(Path.Combine(dir, PidFileName), pid);
        return new VmWorker(launch.Spec.ContainerId, pid, ReapAsync(pid));
    }

    /// <summary>A worker the agent did not start (it restarted since): found by its pidfile, and only if that pid is still this VM's QEMU.</summary>
    public static VmWorker? Find(string runDirectory, string containerId)
    {
        var pid = ReadPid(Path.Combine(runDirectory, PidFileName));
        return pid is { } p && IsWorker(p, containerId) ? new VmWorker(containerId, p, PollAsync(p, containerId)) : null;
    }

    public static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="pid"/> is a live QEMU running this container's VM (not a reused pid).</summary>
    public static bool IsWorker(int pid, string containerId)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Contains("process=" + QemuCommandLine.ProcessName(containerId), StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public void Kill() => Libc.kill(Pid, 9);

    /// <summary>The last lines the guest printed on its serial console (and QEMU's own errors).</summary>
    public static IReadOnlyList<string> ConsoleTail(string runDirectory, int lines = 12)
    {
        var path = Path.Combine(runDirectory, ConsoleName);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Max(0, stream.Length - 65536), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r').TrimEnd()).Where(l => l.Length > 0).TakeLast(lines).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static void WritePidFile(string path, int pid)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, pid.ToString(CultureInfo.InvariantCulture));
        File.Move(temp, path, overwrite: true);
    }

    private static async Task<int?> ReapAsync(int pid) => await ChildReaper.WaitAsync(pid).ConfigureAwait(false) is var code and >= 0 ? code : null;

    private static async Task<int?> PollAsync(int pid, string containerId)
    {
        while (IsWorker(pid, containerId))
        {
            await Task.Delay(250).ConfigureAwait(false);
        }

        return null;
    }
}
