using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>
/// The compute host every front end of the agent is handed (REST, hub, the docker socket; PowerShell and the portal
/// through REST and the hub): each state-changing call is recorded once in the audit trail, here, with the caller its
/// entry point set (<see cref="AuditCaller.Current"/>), what it was aimed at and how it ended. Reads pass through.
/// </summary>
public sealed class AuditedComputeHost(IComputeHost inner, AuditTrail trail) : IComputeHost
{
    private readonly AuditedContainerService _containers = new(inner, trail);
    private readonly AuditedImageService _images = new(inner, trail);
    private readonly AuditedSwitchService _switches = new(inner, trail);

    public IContainerService Containers => _containers;

    public IImageService Images => _images;

    public ISwitchService Switches => _switches;

    public IHostProcessView HostProcesses => inner.HostProcesses;

    public AuditTrail Trail => trail;

    public HostInfo GetHostInfo() => inner.GetHostInfo();
}
