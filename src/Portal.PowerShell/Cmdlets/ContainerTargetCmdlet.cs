using System.Management.Automation;
using Portal.Client;
using Portal.PowerShell.Client;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>One container a cmdlet acts on: the agent it lives on and how to name it there.</summary>
public sealed record ContainerTarget(AgentEndpoint Agent, string Reference, PortalContainer? Known)
{
    public string Display => Known?.Name ?? Reference;
}

/// <summary>
/// The cmdlets that act on existing containers take them as objects (positionally, as in `Set-Container $con`, or
/// from the pipeline), by name (wildcards allowed, tab-completed) or by id (or a unique id prefix).
/// </summary>
public abstract class ContainerTargetCmdlet : PortalCmdlet
{
    protected const string ByName = "Name";
    protected const string ByObject = "Container";
    protected const string ById = "Id";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = ByObject)]
    [ValidateNotNull]
    public PortalContainer[] Container { get; set; } = [];

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = ByName)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ContainerNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ById)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    public string[] ContainerId { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var target in Targets())
        {
            Process(target);
        }
    }

    protected abstract void Process(ContainerTarget target);

    /// <summary>Emits the container as the agent now reports it (for -PassThru).</summary>
    protected void WriteContainer(ContainerTarget target, Portal.Contracts.ContainerInfo info) => WriteObject(PortalContainer.From(info, target.Agent));

    /// <summary>The connected client of the target's agent; inside <see cref="PortalCmdlet.Try"/>, so a failure to connect is the target's error.</summary>
    protected IAgentClient ClientFor(ContainerTarget target) => ClientFor(target.Agent);

    private IEnumerable<ContainerTarget> Targets()
    {
        switch (ParameterSetName)
        {
            case ByObject:
                foreach (var container in Container)
                {
                    // An object goes back to the agent it came from, unless the caller names another.
                    yield return new ContainerTarget(AgentGiven ? Agent : container.Agent, container.ContainerId, container);
                }

                break;
            case ById:
                foreach (var id in ContainerId)
                {
                    yield return new ContainerTarget(Agent, id, null);
                }

                break;
            default:
                foreach (var name in Name)
                {
                    if (!WildcardPattern.ContainsWildcardCharacters(name))
                    {
                        yield return new ContainerTarget(Agent, name, null);
                        continue;
                    }

                    var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                    IReadOnlyList<Portal.Contracts.Hub.ContainerView> all = [];
                    if (!Try(() => all = Await(Client.ListContainersAsync(Cancellation)), name))
                    {
                        continue;
                    }

                    var matches = all.Where(v => pattern.IsMatch(v.Container.Name)).ToList();
                    if (matches.Count == 0)
                    {
                        WriteError(new AgentException("ContainerNotFound", $"No container matches '{name}'. Get-Container lists them.").ToErrorRecord(name));
                    }

                    foreach (var match in matches)
                    {
                        yield return new ContainerTarget(Agent, match.Container.Id, PortalContainer.From(match, Agent));
                    }
                }

                break;
        }
    }
}
