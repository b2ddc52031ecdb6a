using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute;

/// <summary>
/// One container host's compute services as every front end sees them (the hub, the REST API, the Docker Engine API,
/// the PowerShell module through the agent): small role interfaces, so that each front end can be tested against a
/// hand-written fake. Callers never branch on isolation.
/// </summary>
public interface IComputeHost
{
    IContainerService Containers { get; }

    IImageService Images { get; }

    ISwitchService Switches { get; }

    IHostProcessView HostProcesses { get; }

    HostInfo GetHostInfo();
}
