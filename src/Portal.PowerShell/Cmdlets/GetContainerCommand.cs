using System.Management.Automation;
using Portal.Client;
using Portal.PowerShell.Client;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Get-Container [-Name] D* | Get-Container -ContainerId 239def76: the containers on the agent.</summary>
[Cmdlet(VerbsCommon.Get, "Container", DefaultParameterSetName = "Name")]
[OutputType(typeof(PortalContainer))]
public sealed class GetContainerCommand : PortalCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ParameterSetName = "Name")]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ContainerNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Full ids or unique prefixes.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Id")]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    public string[] ContainerId { get; set; } = [];

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Id")
        {
            foreach (var id in ContainerId)
            {
                Try(() => WriteObject(PortalContainer.From(Await(Client.GetContainerAsync(id, Cancellation)), Agent)), id);
            }

            return;
        }

        IReadOnlyList<Portal.Contracts.Hub.ContainerView> all = [];
        if (!Try(() => all = Await(Client.ListContainersAsync(Cancellation)), Name))
        {
            return;
        }

        var containers = all.OrderBy(v => v.Container.Name, StringComparer.OrdinalIgnoreCase).Select(v => PortalContainer.From(v, Agent)).ToList();
        if (Name is null)
        {
            WriteObject(containers, enumerateCollection: true);
            return;
        }

        foreach (var name in Name)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matches = containers.Where(c => pattern.IsMatch(c.Name)).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                WriteError(new AgentException("ContainerNotFound", $"No container is named '{name}'. Get-Container lists them.", 404).ToErrorRecord(name));
            }

            WriteObject(matches, enumerateCollection: true);
        }
    }
}
