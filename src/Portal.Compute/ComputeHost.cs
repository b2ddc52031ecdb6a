using System.Reflection;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Compute.Storage;
using Portal.Compute.Images;
using Portal.Compute.Registry;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Compute.Linux.Vm;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute;

/// <summary>
/// Assembles the compute stack for this host (probes the runtime, opens the image store, loads and re-adopts containers)
/// and is its <see cref="IComputeHost"/>.
/// </summary>
public sealed class ComputeHost : IComputeHost, IAsyncDisposable
{
    private readonly ContainerService _containers;
    private readonly IAsyncDisposable? _network;
    private readonly HostFacts _facts;

    private ComputeHost(ContainerService containers, IImageService images, ISwitchService switches, IHostProcessView hostProcesses, IAsyncDisposable? network, HostFacts facts)
    {
        _containers = containers;
        _network = network;
        _facts = facts;
        Images = images;
        Switches = switches;
        HostProcesses = hostProcesses;
    }

    public IContainerService Containers => _containers;

    public IImageService Images { get; }

    public ISwitchService Switches { get; }

    public IHostProcessView HostProcesses { get; }

    /// <summary>What this host found when it started: the OCI runtime, the cgroup layout and the VM accelerator, with the reasons.</summary>
    public sealed record HostFacts(RuntimeChoice Runtime, CgroupMode CgroupMode, AcceleratorChoice? Accelerator);

    public static async Task<ComputeHost> StartAsync(ComputeOptions options, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new ComputeException(ComputeErrorCode.NotSupported, "This host driver runs on Linux; Windows hosts use the HCS driver.");
        }

        Directory.CreateDirectory(options.StateRoot);
        Directory.CreateDirectory(options.RunRoot);
        var cgroups = CgroupHost.Detect();
        var runtimeRoot = Path.Combine(options.RunRoot, "runtime");
        var probeRoot = Path.Combine(options.RunRoot, "probe");
        var runtime = await OciRuntime.SelectAsync(options.OciRuntimes, options.BusyboxPath, probeRoot, runtimeRoot, cgroups, options.CgroupParent, ct).ConfigureAwait(false);
        var conmon = OciRuntime.Which(options.Conmon)
            ?? throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"conmon ('{options.Conmon}') is not installed; ./deploy/portal up installs it.");

        var images = new ImageStore(
            new ImageStoreOptions
            {
                Root = Path.Combine(options.StateRoot, "images"),
                Aliases = options.ImageAliases,
                MaxExtractedBytes = options.ImageImportMaxBytes,
                MaxArchiveEntries = options.ImageImportMaxEntries,
                MinFreeBytes = options.ImageMinFreeBytes,
            },
            loggerFactory.CreateLogger<ImageStore>());
        await images.EnsureBusyboxAsync(options.BusyboxPath, ct).ConfigureAwait(false);

        var drivers = new List<IIsolationDriver>
        {
            new ProcessIsolationDriver(options.RunRoot, runtime, conmon, cgroups, options.CgroupParent, options.DefaultPidsLimit, loggerFactory.CreateLogger<ProcessIsolationDriver>(),
                new AppArmorHost(loggerFactory.CreateLogger<AppArmorHost>())),
        };
        VmIsolationDriver? vm = null;
        try
        {
            vm = await VmIsolationDriver.CreateAsync(
                new VmOptions
                {
                    RunRoot = options.RunRoot,
                    KernelPath = options.GuestKernel,
                    InitramfsPath = options.GuestInitramfs,
                    QemuPath = options.Qemu,
                    Accelerator = options.VmAccelerator,
                    DefaultMemoryBytes = options.VmDefaultMemoryBytes,
                    WorkerOverheadBytes = options.VmWorkerOverheadBytes,
                    TcgTranslationCacheMiB = options.VmTcgTranslationCacheMiB,
                    CgroupParent = options.CgroupParent,
                    BusyboxPath = options.BusyboxPath,
                },
                loggerFactory.CreateLogger<VmIsolationDriver>(),
                ct).ConfigureAwait(false);
            drivers.Add(vm);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.NotSupported)
        {
            loggerFactory.CreateLogger<ComputeHost>().LogWarning("VM isolation is not available on this host: {Reason}", e.Message);
        }

        var switches = new SwitchManager(options.Networking, options.StateRoot, options.RunRoot, loggerFactory.CreateLogger<SwitchManager>());
        return await OpenAsync(options, images, drivers, loggerFactory, ct, switches, facts: new HostFacts(runtime.Choice, cgroups.Mode, vm?.Accelerator)).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a compute host from given parts and recovers its containers: the real stack (<see cref="StartAsync"/>),
    /// and tests and benchmarks with drivers of their own. Without <paramref name="switches"/> the host has only the
    /// switch none; without <paramref name="scratchDisks"/> scratch disks are ext4 files made from a template.
    /// </summary>
    public static async Task<ComputeHost> OpenAsync(ComputeOptions options, ImageStore images, IEnumerable<IIsolationDriver> drivers, ILoggerFactory loggerFactory, CancellationToken ct,
        SwitchManager? switches = null, IScratchDiskFactory? scratchDisks = null, HostFacts? facts = null)
    {
        var store = new ContainerStore(Path.Combine(options.StateRoot, "containers"));
        var scratch = scratchDisks ?? new ScratchDisk(Path.Combine(options.StateRoot, "cache"), options.ScratchDiskBytes);
        var switchService = switches is null ? null : new SwitchService(switches, store, loggerFactory.CreateLogger<SwitchService>());
        var (switchView, network) = switchService is null ? NoNetwork() : (switchService, switchService);
        var runs = new ContainerRuns();
        var containers = new ContainerService(options, store, runs, images, scratch, network, drivers, loggerFactory);
        await containers.InitializeAsync(ct).ConfigureAwait(false);
        facts ??= new HostFacts(new RuntimeChoice { Name = "none", Path = "", Version = "", Reason = "assembled without an OCI runtime probe" }, CgroupHost.Detect().Mode, null);
        var puller = new ImagePuller(images, new RegistryClient(RegistryClient.DefaultHandler(), options.Registries, TimeProvider.System), options.Registries,
            loggerFactory.CreateLogger<ImagePuller>());
        return new ComputeHost(containers, new ImageService(images, containers, puller), switchView, new HostProcessView(store, runs), switchService, facts);
    }

    private static (ISwitchService, IContainerNetwork) NoNetwork()
    {
        var none = new NoSwitches();
        return (none, none);
    }

    public HostInfo GetHostInfo()
    {
        var containers = Containers.ListContainers();
        return new HostInfo
        {
            Hostname = Environment.MachineName,
            Kernel = ReadFirstLine("/proc/sys/kernel/osrelease") ?? "unknown",
            OperatingSystem = OsRelease() ?? "Linux",
            Cpus = Environment.ProcessorCount,
            MemoryBytes = MemTotal(),
            CgroupMode = _facts.CgroupMode switch
            {
                CgroupMode.V1 => "v1",
                CgroupMode.Hybrid => "hybrid",
                _ => "v2",
            },
            ProcessRuntime = _facts.Runtime,
            VmAccelerator = _facts.Accelerator?.Name,
            VmAcceleratorReason = _facts.Accelerator?.Reason ?? "VM isolation is not available: QEMU or setpriv is missing (./deploy/portal up installs them).",
            RuntimeTypes = Containers.RuntimeTypes.Order().ToList(),
            Containers = containers.Count,
            RunningContainers = containers.Count(c => c.State is ContainerState.Running or ContainerState.Stopping),
            Images = Images.List().Count,
            Version = typeof(ComputeHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0",
        };
    }

    private static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;

    private static string? OsRelease() => File.Exists("/etc/os-release")
        ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')
        : null;

    private static long MemTotal()
    {
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Stops watching containers (they keep running and are re-adopted next time) and closes published ports.</summary>
    public async ValueTask DisposeAsync()
    {
        await _containers.DisposeAsync().ConfigureAwait(false);
        if (_network is not null)
        {
            await _network.DisposeAsync().ConfigureAwait(false);
        }
    }
}
