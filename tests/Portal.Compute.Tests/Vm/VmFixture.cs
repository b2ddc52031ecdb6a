using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Compute.Linux.Vm;
using Portal.Compute.Networking;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Vm;

/// <summary>
/// A real compute stack with both drivers (process isolation on crun/runc, VM isolation on QEMU under TCG here)
/// in a private sandbox. Builds the guest (deploy/guest/build, idempotent) when its kernel or initramfs is missing.
/// Needs root: as any other user it starts nothing and throws nothing (xunit builds class fixtures even when every test
/// of the class is skipped).
/// </summary>
public class VmFixture : IAsyncLifetime
{
    /// <summary>The guest build the tests boot (PORTAL_GUEST_DIR overrides /var/cache/portal/guest).</summary>
    public static string GuestDirectory => GuestBuild.Directory;

    private readonly TestSandbox _sandbox = new();

    public ComputeOptions Options => _sandbox.Options;

    public TestSandbox Sandbox => _sandbox;

    public ComputeHost Compute { get; private set; } = null!;

    public VmIsolationDriver Driver { get; private set; } = null!;

    public VmOptions VmOptions => new()
    {
        RunRoot = Options.RunRoot,
        KernelPath = Path.Combine(GuestDirectory, "vmlinuz"),
        InitramfsPath = Path.Combine(GuestDirectory, "initramfs.img"),
        CgroupParent = Options.CgroupParent,
        Accelerator = VmAccelerator.Auto,
        BootTimeout = TimeSpan.FromSeconds(120),
    };

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        TestSandbox.RequireRoot();
        await EnsureGuestAsync();
        await StartStackAsync();
    }

    /// <summary>Drops the stack without stopping anything (as if the agent died), then builds a new one on the same state.</summary>
    public async Task RestartStackAsync()
    {
        await Compute.DisposeAsync();
        await StartStackAsync();
    }

    /// <summary>Virtual switches for the stack; none by default (containers then have only loopback).</summary>
    protected virtual SwitchManager? CreateSwitches() => null;

    private async Task StartStackAsync()
    {
        Directory.CreateDirectory(Options.StateRoot);
        Directory.CreateDirectory(Options.RunRoot);
        var cgroups = CgroupHost.Detect();
        var runtime = await OciRuntime.SelectAsync(Options.OciRuntimes, Options.BusyboxPath, Path.Combine(Options.RunRoot, "probe"), Path.Combine(Options.RunRoot, "runtime"), cgroups, Options.CgroupParent, CancellationToken.None);
        var conmon = OciRuntime.Which(Options.Conmon)!;
        var images = new ImageStore(new ImageStoreOptions { Root = Path.Combine(Options.StateRoot, "images"), Aliases = Options.ImageAliases }, NullLogger<ImageStore>.Instance);
        await images.EnsureBusyboxAsync(Options.BusyboxPath, CancellationToken.None);
        var process = new ProcessIsolationDriver(Options.RunRoot, runtime, conmon, cgroups, Options.CgroupParent, Options.DefaultPidsLimit, NullLogger<ProcessIsolationDriver>.Instance);
        Driver = await VmIsolationDriver.CreateAsync(VmOptions, NullLogger.Instance, CancellationToken.None);
        Compute = await ComputeHost.OpenAsync(Options, images, [process, Driver], NullLoggerFactory.Instance, CancellationToken.None, CreateSwitches());
    }

    /// <summary>Builds the guest this checkout's host side speaks (see <see cref="GuestBuild.EnsureBuiltAsync"/>).</summary>
    public static Task EnsureGuestAsync() => GuestBuild.EnsureBuiltAsync();

    public async Task<ContainerInfo> RunAsync(string name, params string[] command)
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = name, Image = "busybox", Command = command, RuntimeType = RuntimeType.HyperV });
        return await Compute.Containers.StartContainerAsync(created.Id);
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            if (Compute is not null)
            {
                foreach (var container in Compute.Containers.ListContainers())
                {
                    await Compute.Containers.RemoveContainerAsync(container.Id, force: true);
                }

                foreach (var sw in Compute.Switches.ListSwitches().Where(s => !s.IsBuiltIn))
                {
                    await Compute.Switches.RemoveSwitchAsync(sw.Id);
                }

                await Compute.DisposeAsync();
            }
        }
        finally
        {
            _sandbox.Clean();
        }
    }
}
