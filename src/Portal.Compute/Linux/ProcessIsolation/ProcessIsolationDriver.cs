using System.Globalization;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// Process isolation on Linux: the image disk and the scratch disk are loop-mounted and overlaid into the
/// container's root, and the OCI runtime runs the container under conmon.
/// </summary>
internal sealed class ProcessIsolationDriver : IIsolationDriver, IOrphanCleaner, IDisposable
{
    private readonly string _runRoot;
    private readonly Conmon _conmon;
    private readonly ILogger _logger;
    private readonly string _cgroupParent;

    /// <summary>Per running container: keeps the log files conmon drops at its size limit (see <see cref="ConmonLogKeeper"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ConmonLogKeeper> _logKeepers = new(StringComparer.Ordinal);

    public ProcessIsolationDriver(string runRoot, OciRuntime runtime, string conmonPath, CgroupHost cgroups, string cgroupParent, long defaultPidsLimit, ILogger logger, AppArmorHost? appArmor = null)
    {
        AppArmor = appArmor ?? new AppArmorHost(logger);
        _cgroupParent = cgroupParent;
        _runRoot = runRoot;
        Runtime = runtime;
        Cgroups = cgroups;
        DefaultPidsLimit = defaultPidsLimit;
        _logger = logger;
        _conmon = new Conmon(conmonPath, runtime);
        Exits = new ExitWatcher(Path.Combine(runRoot, "exits"));
        Directory.CreateDirectory(SocketDirectory);
    }

    public RuntimeType RuntimeType => RuntimeType.Default;

    public OciRuntime Runtime { get; }

    public CgroupHost Cgroups { get; }

    public long DefaultPidsLimit { get; }

    public ExitWatcher Exits { get; }

    public AppArmorHost AppArmor { get; }

    public void CheckSecurity(ContainerSecurity security) => ProcessSecurityPolicy.Check(security, AppArmor);

    private string SocketDirectory => Path.Combine(_runRoot, "sockets");

    public string RunDirectory(string id) => Path.Combine(_runRoot, "containers", id);

    private static string Rootfs(string runDirectory) => Path.Combine(runDirectory, "rootfs");

    public async Task<IContainer> StartAsync(ContainerContext context, CancellationToken ct)
    {
        var record = context.Record;
        var dir = RunDirectory(record.Id);
        await CleanupAsync(context, ct).ConfigureAwait(false);
        try
        {
            var netns = await ContainerVeth.PlugAsync(context.Network, dir, ct).ConfigureAwait(false);
            var rootfs = MountRoot(context, dir);
            ProcessSecurityPolicy.CheckTmpfsTargets(rootfs, record.Security.Tmpfs);
            var user = ContainerUser.Resolve(record.User, rootfs);
            var spec = OciSpecBuilder.Build(new OciSpecRequest
            {
                Hostname = record.Name,
                RootfsPath = rootfs,
                CgroupsPath = $"/{_cgroupParent}/{record.Id}",
                Args = record.Command,
                Env = record.Tty && !record.Environment.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal)) ? [.. record.Environment, "TERM=xterm"] : record.Environment,
                Cwd = record.WorkingDirectory,
                User = user,
                Terminal = record.Tty,
                Limits = record.Limits,
                DefaultPidsLimit = DefaultPidsLimit,
                CgroupNamespace = Cgroups.Mode == CgroupMode.V2,
                NetworkNamespacePath = netns,
                HostsPath = context.Network?.HostsPath,
                Security = record.Security,
                AppArmorProfile = await AppArmor.ProfileForAsync(record.Security.AppArmorProfile, ct).ConfigureAwait(false),
            });
            await File.WriteAllTextAsync(Path.Combine(dir, "config.json"), spec.ToJsonString(), ct).ConfigureAwait(false);
            Exits.Forget(record.Id);
            var hostPid = await _conmon.CreateAsync(
                new Conmon.Request
                {
                    Id = record.Id,
                    Name = record.Name,
                    Bundle = dir,
                    PidFile = Path.Combine(dir, "pidfile"),
                    ConmonPidFile = Path.Combine(dir, "conmon.pid"),
                    LogPath = context.LogPath,
                    LogMaxBytes = context.Log.MaxBytes,
                    ExitDirectory = Path.GetDirectoryName(Exits.PathOf(record.Id))!,
                    SocketDirectory = SocketDirectory,
                    Terminal = record.Tty,
                    Stdin = record.OpenStdin,
                },
                ct).ConfigureAwait(false);
            KeepLogs(context);
            await Runtime.StartAsync(record.Id, ct).ConfigureAwait(false);
            return new OciContainer(this, record, hostPid, ReadPid(Path.Combine(dir, "conmon.pid")) ?? 0, rootfs);
        }
        catch
        {
            await CleanupAsync(context, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private void KeepLogs(ContainerContext context)
    {
        if (ConmonLogKeeper.Start(context.LogPath, context.Log) is { } keeper)
        {
            if (_logKeepers.TryRemove(context.Record.Id, out var old))
            {
                old.Dispose();
            }

            _logKeepers[context.Record.Id] = keeper;
        }
    }

    public async Task<AdoptResult> AdoptAsync(ContainerContext context, CancellationToken ct)
    {
        var id = context.Record.Id;
        var dir = RunDirectory(id);
        if (Exits.TryRead(id) is { } code)
        {
            return new AdoptResult.Exited(new ContainerExit(code));
        }

        var status = await Runtime.StatusAsync(id, ct).ConfigureAwait(false);
        var hostPid = ReadPid(Path.Combine(dir, "pidfile"));
        var conmonPid = ReadPid(Path.Combine(dir, "conmon.pid")) ?? 0;
        if (status is "running" or "created" or "paused" && hostPid is { } pid)
        {
            if (status == "created")
            {
                // The agent died between create and start: finish what it began.
                await Runtime.StartAsync(id, ct).ConfigureAwait(false);
            }

            KeepLogs(context);
            return new AdoptResult.Running(new OciContainer(this, context.Record, pid, conmonPid, Rootfs(dir)));
        }

        // Stopped: conmon may still be writing the exit file.
        for (var i = 0; i < 20 && OciContainer.ProcessIsAlive(conmonPid, "conmon") && Exits.TryRead(id) is null; i++)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        return new AdoptResult.Exited(Exits.TryRead(id) is { } late
            ? new ContainerExit(late)
            : new ContainerExit(255, status is null
                ? "The container was gone when the agent restarted (was the host rebooted?)."
                : "The container ended while the agent was down and its exit code was not recorded."));
    }

    public async Task CleanupAsync(ContainerContext context, CancellationToken ct)
    {
        var id = context.Record.Id;
        if (_logKeepers.TryRemove(id, out var keeper))
        {
            keeper.Dispose();
        }

        var dir = RunDirectory(id);
        await ContainerVeth.UnplugAsync(dir, ct).ConfigureAwait(false);
        if (!Directory.Exists(dir) && !Directory.Exists(Path.Combine(SocketDirectory, id)))
        {
            return; // never started, or already clean: nothing for the runtime to forget either
        }

        await Runtime.DeleteAsync(id, ct).ConfigureAwait(false);
        Mounts.UnmountAll(dir);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        var sockets = Path.Combine(SocketDirectory, id);
        if (Directory.Exists(sockets))
        {
            Directory.Delete(sockets, recursive: true);
        }

        _logger.LogDebug("Cleaned up process-isolated container {Id}", id);
    }

    public async Task RemoveOrphansAsync(IReadOnlySet<string> knownIds, CancellationToken ct)
    {
        var containers = Path.Combine(_runRoot, "containers");
        if (!Directory.Exists(containers))
        {
            return;
        }

        foreach (var dir in Directory.EnumerateDirectories(containers).Where(d => !knownIds.Contains(Path.GetFileName(d))))
        {
            _logger.LogWarning("Removing leftovers of unknown container {Directory}", dir);
            await Runtime.DeleteAsync(Path.GetFileName(dir), ct).ConfigureAwait(false);
            Mounts.UnmountAll(dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string MountRoot(ContainerContext context, string dir)
    {
        var image = Path.Combine(dir, "image");
        var scratch = Path.Combine(dir, "scratch");
        var rootfs = Rootfs(dir);
        Directory.CreateDirectory(image);
        Directory.CreateDirectory(scratch);
        Directory.CreateDirectory(rootfs);
        Mounts.MountDisk(context.ImageDiskPath, image, "erofs", readOnly: true);
        Mounts.MountDisk(context.ScratchDiskPath, scratch, "ext4", readOnly: false);
        var upper = Path.Combine(scratch, ScratchDisk.UpperDirectory);
        var work = Path.Combine(scratch, ScratchDisk.WorkDirectory);
        Mounts.Mount("overlay", rootfs, "overlay", 0, $"lowerdir={image},upperdir={upper},workdir={work}");
        return rootfs;
    }

    private static int? ReadPid(string path)
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

    public void Dispose()
    {
        foreach (var id in _logKeepers.Keys)
        {
            if (_logKeepers.TryRemove(id, out var keeper))
            {
                keeper.Dispose();
            }
        }

        Exits.Dispose();
    }
}
