using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Portal.Compute.Containers;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// VM isolation on Linux (RuntimeType.HyperV): each container runs in its own QEMU microVM (the VM worker) with its
/// own guest kernel; the image disk and the scratch disk are attached as virtio-blk and the guest agent overlays them.
/// </summary>
public sealed class VmIsolationDriver : IIsolationDriver, IOrphanCleaner, IDisposable
{
    /// <summary>In the run directory: the name of the tap this VM was given.</summary>
    private const string TapFileName = "tap";

    private readonly VmOptions _options;
    private readonly CgroupHost _cgroups;
    private readonly string _qemuPath;
    private readonly string _setprivPath;
    private readonly string _unsharePath;
    private readonly VmWorkerUids _uids;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, VmContainer> _live = new(StringComparer.Ordinal);

    internal VmIsolationDriver(VmOptions options, CgroupHost cgroups, string qemuPath, string setprivPath, string unsharePath, AcceleratorChoice accelerator, ILogger logger)
    {
        _unsharePath = unsharePath;
        _uids = new VmWorkerUids(Path.Combine(options.RunRoot, "vm"), options.WorkerUidBase);
        _options = options;
        _cgroups = cgroups;
        _qemuPath = qemuPath;
        _setprivPath = setprivPath;
        Accelerator = accelerator;
        _logger = logger;
        Directory.CreateDirectory(VmRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public RuntimeType RuntimeType => RuntimeType.HyperV;

    /// <summary>
    /// The guest agent runs the container's processes as the VM's own root (every capability, no rlimits, AppArmor or
    /// no-new-privileges: the VM is the boundary) on a writable root, so it honours --cap-add (already held) and
    /// apparmor=unconfined, and refuses what would tighten the processes inside.
    /// </summary>
    public void CheckSecurity(ContainerSecurity security) => CheckGuestSecurity(security);

    internal static void CheckGuestSecurity(ContainerSecurity security)
    {
        ArgumentNullException.ThrowIfNull(security);
        var unsupported = new List<string>();
        if (security.CapabilityDrop.Count > 0)
        {
            unsupported.Add("--cap-drop");
        }

        if (security.ReadOnlyRootFilesystem)
        {
            unsupported.Add("--read-only");
        }

        if (security.NoNewPrivileges == true)
        {
            unsupported.Add("no-new-privileges");
        }

        if (security.Ulimits.Count > 0)
        {
            unsupported.Add("--ulimit");
        }

        if (security.Tmpfs.Count > 0)
        {
            unsupported.Add("--tmpfs");
        }

        if (security.AppArmorProfile is { } profile && profile != "unconfined")
        {
            unsupported.Add("apparmor=" + profile);
        }

        if (unsupported.Count > 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument,
                $"{string.Join(", ", unsupported)} {(unsupported.Count == 1 ? "is" : "are")} not supported with VM isolation (HyperV): the guest agent runs the container's processes as the VM's root on a writable root file system. Use process isolation (--isolation=process, RuntimeType Default) for these options.");
        }
    }

    /// <summary>KVM or TCG, and why: for host info.</summary>
    public AcceleratorChoice Accelerator { get; }

    public VmOptions Options => _options;

    private string VmRoot => Path.Combine(_options.RunRoot, "vm");

    internal string RunDirectory(string id) => Path.Combine(VmRoot, id);

    /// <summary>
    /// Checks QEMU and setpriv are installed and chooses the accelerator (a KVM boot probe, cached per host boot).
    /// A missing guest kernel does not stop the driver: starting a VM-isolated container then says to build it.
    /// </summary>
    public static async Task<VmIsolationDriver> CreateAsync(VmOptions options, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var qemu = Which(options.QemuPath)
            ?? throw new ComputeException(ComputeErrorCode.NotSupported, $"QEMU ('{options.QemuPath}') is not installed; ./deploy/portal up installs qemu-system-x86.");
        var setpriv = Which("setpriv")
            ?? throw new ComputeException(ComputeErrorCode.NotSupported, "setpriv (util-linux) is not installed; VM workers need it to drop to their own account.");
        var unshare = Which("unshare")
            ?? throw new ComputeException(ComputeErrorCode.NotSupported, "unshare (util-linux) is not installed; VM workers need it for their own namespaces.");
        var vmRoot = Path.Combine(options.RunRoot, "vm");
        Directory.CreateDirectory(vmRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        AcceleratorChoice accelerator;
        if (options.Accelerator == VmAccelerator.Auto && (!File.Exists(options.KernelPath) || !File.Exists(options.BusyboxPath)))
        {
            accelerator = new AcceleratorChoice(VmAccelerator.Tcg, $"Not probed: the guest kernel ({options.KernelPath}) is missing, so KVM could not be tried; run deploy/guest/build.");
        }
        else
        {
            var probeInitramfs = Path.Combine(vmRoot, "probe-initramfs.img");
            if (options.Accelerator == VmAccelerator.Auto && File.Exists("/dev/kvm") && !File.Exists(probeInitramfs))
            {
                ProbeInitramfs.Write(probeInitramfs, options.BusyboxPath);
            }

            accelerator = await AcceleratorProbe.ChooseAsync(options.Accelerator, new KvmHost(qemu, options.KernelPath, probeInitramfs), Path.Combine(vmRoot, "accelerator.json"), options.KvmProbeTimeout, ct).ConfigureAwait(false);
        }

        logger.LogInformation("VM isolation: {Accelerator} ({Reason})", accelerator.Name, accelerator.Reason);
        return new VmIsolationDriver(options, CgroupHost.Detect(), qemu, setpriv, unshare, accelerator, logger);
    }

    public async Task<IContainer> StartAsync(ContainerContext context, CancellationToken ct)
    {
        var record = context.Record;
        await CleanupAsync(context, ct).ConfigureAwait(false);
        foreach (var (what, path) in new[] { ("guest kernel", _options.KernelPath), ("guest initramfs", _options.InitramfsPath) })
        {
            if (!File.Exists(path))
            {
                throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The {what} ({path}) is missing: build it with deploy/guest/build, then start the container again.");
            }
        }

        var memory = GuestMemoryBytes(record.Limits);
        var dir = RunDirectory(record.Id);
        var cgroup = VmCgroup.For(_cgroups.Mode, _options.CgroupParent, record.Id);
        var port = context.Network?.Port;
        SafeFileHandle? tap = null;
        try
        {
            var overhead = _options.WorkerOverheadBytes + (Accelerator.Accelerator == VmAccelerator.Tcg ? (long)_options.TcgTranslationCacheMiB << 20 : 0);
            cgroup.Create(_cgroups.Mode, memory + overhead, record.Limits.Cpus);
            if (port is not null)
            {
                // The VM's own device: a tap on the switch's bridge, handed to the worker as fd 7 (QEMU stays unprivileged).
                await context.Network!.Plumbing.RemoveLinkAsync(port.TapName, ct).ConfigureAwait(false); // whatever an earlier run left
                tap = await context.Network.Plumbing.OpenTapAsync(port, ct).ConfigureAwait(false);
            }

            var worker = VmWorker.Start(new VmWorker.Launch
            {
                Spec = new VmWorkerSpec
                {
                    ContainerId = record.Id,
                    ContainerName = record.Name,
                    Accelerator = Accelerator.Accelerator,
                    TcgTranslationCacheMiB = _options.TcgTranslationCacheMiB,
                    MemoryMiB = memory >> 20,
                    Cpus = record.Limits.Cpus is { } cpus ? (int)Math.Ceiling(cpus) : 1,
                    KernelPath = _options.KernelPath,
                    InitramfsPath = _options.InitramfsPath,
                    KernelParameters = _options.KernelParameters,
                    MacAddress = port?.MacAddress,
                    Uid = _uids.Allocate(record.Id),
                    JailDirectory = Path.Combine(dir, VmWorker.JailName),
                },
                QemuPath = _qemuPath,
                SetprivPath = _setprivPath,
                UnsharePath = _unsharePath,
                RunDirectory = dir,
                ImageDiskPath = context.ImageDiskPath,
                ScratchDiskPath = context.ScratchDiskPath,
                CgroupProcsFiles = cgroup.ProcsFiles,
                Tap = tap,
            });
            if (port is not null)
            {
                // The clean-up finds the tap by this name even after an agent restart.
                await File.WriteAllTextAsync(Path.Combine(dir, TapFileName), port.TapName, ct).ConfigureAwait(false);
            }

            var container = await VmContainer.AttachAsync(record, worker, dir, context.LogPath, context.Log, memory, _options, _options.BootTimeout, _logger, ct).ConfigureAwait(false);
            _live[record.Id] = container;
            await container.StartFirstProcessAsync(port?.ToGuest(), context.Network?.Hosts, ct).ConfigureAwait(false);
            _logger.LogInformation("Started VM-isolated container {Name} in worker {Pid} ({Accelerator})", record.Name, worker.Pid, Accelerator.Name);
            return container;
        }
        catch
        {
            await CleanupAsync(context, CancellationToken.None).ConfigureAwait(false);
            if (port is not null)
            {
                await LinkPlumbing.Host.RemoveLinkAsync(port.TapName, CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }
        finally
        {
            // The worker holds its own copy: the tap lives as long as the VM.
            tap?.Dispose();
        }
    }

    public async Task<AdoptResult> AdoptAsync(ContainerContext context, CancellationToken ct)
    {
        var record = context.Record;
        var dir = RunDirectory(record.Id);
        var recorded = VmWorker.ReadPid(Path.Combine(dir, VmContainer.ExitFileName));
        var worker = VmWorker.Find(dir, record.Id);
        if (worker is null)
        {
            if (recorded is { } code)
            {
                return new AdoptResult.Exited(new ContainerExit(code));
            }

            var exit = Directory.Exists(dir)
                ? VmContainerExits.Describe(null, VmWorker.ConsoleTail(dir, 40))
                : new ContainerExit(255, "The VM was gone when the agent restarted (was the host rebooted?).");
            return new AdoptResult.Exited(exit);
        }

        try
        {
            var container = await VmContainer.AttachAsync(record, worker, dir, context.LogPath, context.Log, GuestMemoryBytes(record.Limits), _options, TimeSpan.FromSeconds(15), _logger, ct).ConfigureAwait(false);
            _live[record.Id] = container;
            return new AdoptResult.Running(container);
        }
        catch (ComputeException e)
        {
            _logger.LogWarning(e, "Cannot reconnect to the VM of {Name}; stopping it", record.Name);
            worker.Kill();
            return new AdoptResult.Exited(new ContainerExit(255, "The agent could not reconnect to the VM after it restarted: " + e.Message));
        }
    }

    public async Task CleanupAsync(ContainerContext context, CancellationToken ct) => await RemoveAsync(context.Record.Id, ct).ConfigureAwait(false);

    public async Task RemoveOrphansAsync(IReadOnlySet<string> knownIds, CancellationToken ct)
    {
        if (Directory.Exists(VmRoot))
        {
            foreach (var dir in Directory.EnumerateDirectories(VmRoot).Where(d => !knownIds.Contains(Path.GetFileName(d))))
            {
                _logger.LogWarning("Removing the VM of unknown container {Directory}", dir);
                await RemoveAsync(Path.GetFileName(dir), ct).ConfigureAwait(false);
            }
        }

        // A VM cgroup whose run directory is gone (the agent died half way through a cleanup).
        foreach (var hierarchy in VmCgroup.For(_cgroups.Mode, _options.CgroupParent, "x").Directories.Select(d => Path.GetDirectoryName(d)!).Where(Directory.Exists))
        {
            foreach (var cgroup in Directory.EnumerateDirectories(hierarchy, "*@vm"))
            {
                var id = Path.GetFileName(cgroup)[..^3];
                if (!knownIds.Contains(id))
                {
                    await RemoveAsync(id, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Kills the worker if it still runs, then removes its cgroup and run directory (socket, pidfile, console). Idempotent.</summary>
    private async Task RemoveAsync(string id, CancellationToken ct)
    {
        if (_live.TryRemove(id, out var container))
        {
            await container.DisposeAsync().ConfigureAwait(false);
        }

        var dir = RunDirectory(id);
        if (VmWorker.Find(dir, id) is { } worker)
        {
            worker.Kill();
            for (var i = 0; i < 100 && worker.IsAlive; i++)
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
            }
        }

        await VmCgroup.For(_cgroups.Mode, _options.CgroupParent, id).RemoveAsync(ct).ConfigureAwait(false);
        var tapFile = Path.Combine(dir, TapFileName);
        if (File.Exists(tapFile))
        {
            // Not persistent, so it went with the worker; deleted by name for certainty, as before.
            await LinkPlumbing.Host.RemoveLinkAsync((await File.ReadAllTextAsync(tapFile, ct).ConfigureAwait(false)).Trim(), ct).ConfigureAwait(false);
        }

        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
            _logger.LogDebug("Cleaned up VM-isolated container {Id}", id);
        }
    }

    private long GuestMemoryBytes(ContainerLimits limits) => VmOptions.GuestMemoryBytes(limits.MemoryBytes, _options.DefaultMemoryBytes, _options.MinimumMemoryBytes);

    private static string? Which(string file)
    {
        if (file.Contains('/'))
        {
            return File.Exists(file) ? file : null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/usr/bin")
            .Select(d => Path.Combine(d, file))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Lets go of every VM without stopping it: the agent is stopping and the next one re-adopts them.</summary>
    public void Dispose()
    {
        foreach (var (_, container) in _live)
        {
            container.Detach();
        }

        _live.Clear();
    }
}
