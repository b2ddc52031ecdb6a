using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Web.Hosts;

namespace Portal.Web.Model;

/// <summary>One line of the containers grid: a container, where it runs, and its recent resource use.</summary>
public sealed record ContainerRow(string HostId, string HostName, ContainerView View, ContainerUsage? Usage)
{
    public ContainerInfo Container => View.Container;

    public string Key => $"{HostId}/{Container.Id}";

    public string ShortId => Container.Id.Length > 12 ? Container.Id[..12] : Container.Id;

    /// <summary>How long it has run, while it runs.</summary>
    public TimeSpan? Uptime(DateTimeOffset now) =>
        Container.State == ContainerState.Running && Container.StartedAt is { } started ? now - started : null;

    public static IEnumerable<ContainerRow> From(IEnumerable<AgentHost> hosts) =>
        hosts.SelectMany(h => h.Containers.Values.Select(v => new ContainerRow(h.Id, h.Name, v, h.Usage.GetValueOrDefault(v.Container.Id))));
}
