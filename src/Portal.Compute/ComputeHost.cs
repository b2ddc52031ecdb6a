using System.Reflection;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Compute.Linux.Vm;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute;

/// <summary>Assembles the compute stack for this host: probes the runtime, opens the image store, loads and re-adopts containers.</summary>
public sealed class ComputeHost : IComputeHost, IAsyncDisposable
{
    private readonly RuntimeChoice _runtime;
    private readonly CgroupHost _cgroups;
    private readonly AcceleratorChoice? _accelerator;

    private readonly ComputeService _service;

    private ComputeHost(ComputeService service, ImageStore images, RuntimeChoice runtime, CgroupHost cgroups, AcceleratorChoice? accelerator)
    {
        _service = service;
        Images = new ImageService(images, service);
        _runtime = runtime;
        _cgroups = cgroups;
        _accelerator = accelerator;
    }

    /// <summary>The service behind the role interfaces (tests and benchmarks drive it directly).</summary>
    public ComputeService Service => _service;

    public IContainerService Containers => _service;

    public IImageService Images { get; }

    public ISwitchService Switches => _service;

    public IHostProcessView HostProcesses => _service;

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
            new ImageStoreOptions { Root = Path.Combine(options.StateRoot, "images"), Aliases = options.ImageAliases },
            loggerFactory.CreateLogger<ImageStore>());
        await images.EnsureBusyboxAsync(options.BusyboxPath, ct).ConfigureAwait(false);

        var drivers = new List<IIsolationDriver>
        {
            new ProcessIsolationDriver(options.RunRoot, runtime, conmon, cgroups, options.CgroupParent, options.DefaultPidsLimit, loggerFactory.CreateLogger<ProcessIsolationDriver>()),
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
        var service = new ComputeService(options, images, drivers, loggerFactory.CreateLogger<ComputeService>(), switches);
        await service.InitializeAsync(ct).ConfigureAwait(false);
        return new ComputeHost(service, images, runtime.Choice, cgroups, vm?.Accelerator);
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
            CgroupMode = _cgroups.Mode switch
            {
                CgroupMode.V1 => "v1",
                CgroupMode.Hybrid => "hybrid",
                _ => "v2",
            },
            ProcessRuntime = _runtime,
            VmAccelerator = _accelerator?.Name,
            VmAcceleratorReason = _accelerator?.Reason ?? "VM isolation is not available: QEMU or setpriv is missing (./deploy/portal up installs them).",
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

    public ValueTask DisposeAsync() => _service.DisposeAsync();
}
