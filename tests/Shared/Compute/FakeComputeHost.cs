using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Tests.Shared.Compute;

/// <summary>
/// A hand-written, in-memory <see cref="IComputeHost"/>: containers, images and switches as records in dictionaries,
/// with the compute service's error codes, so front ends (the docker endpoints, the agent's hub feed) can be driven without root or processes.
/// </summary>
public sealed class FakeComputeHost : IComputeHost
{
    public FakeComputeHost(RuntimeType defaultRuntimeType = RuntimeType.Default)
    {
        Images = new FakeImageService();
        Switches = new FakeSwitchService();
        Containers = new FakeContainerService(Images, Switches, defaultRuntimeType);
    }

    public FakeContainerService Containers { get; }

    public FakeImageService Images { get; }

    public FakeSwitchService Switches { get; }

    public FakeHostProcessView HostProcesses { get; } = new();

    IContainerService IComputeHost.Containers => Containers;

    IImageService IComputeHost.Images => Images;

    ISwitchService IComputeHost.Switches => Switches;

    IHostProcessView IComputeHost.HostProcesses => HostProcesses;

    public HostInfo GetHostInfo() => new()
    {
        Hostname = "fake-host",
        Kernel = "6.1.0-fake",
        OperatingSystem = "Fake Linux",
        Cpus = 2,
        MemoryBytes = 4L << 30,
        CgroupMode = "v2",
        ProcessRuntime = new RuntimeChoice { Name = "runc", Path = "/usr/bin/runc", Version = "1.1.12", Reason = "fake" },
        VmAccelerator = "tcg",
        VmAcceleratorReason = "fake",
        RuntimeTypes = Containers.RuntimeTypes.ToList(),
        Containers = Containers.ListContainers().Count,
        RunningContainers = Containers.ListContainers().Count(c => c.State == ContainerState.Running),
        Images = Images.List().Count,
        Version = "0.0.0-fake",
    };
}
