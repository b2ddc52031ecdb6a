using System.Management.Automation;
using Portal.Contracts;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Get-ComputeProcess: every container's compute system and, for VM isolation, its VirtualMachine (HCS's view).</summary>
[Cmdlet(VerbsCommon.Get, "ComputeProcess")]
[OutputType(typeof(ComputeProcess))]
public sealed class GetComputeProcessCommand : PortalCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ContainerNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Id { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Owner { get; set; }

    [Parameter]
    public ComputeSystemType[]? Type { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<ComputeSystemInfo> systems = [];
        if (!Try(() => systems = Await(Client.ListComputeSystemsAsync(Cancellation)), null))
        {
            return;
        }

        var rows = systems
            .Where(s => Matches(Name, s.Name) && Matches(Id, s.Id) && Matches(Owner, s.Owner) && (Type is null || Type.Contains(s.Type)))
            .OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase).ThenBy(s => s.Type)
            .Select(ComputeProcess.From);
        WriteObject(rows, enumerateCollection: true);
    }

    private static bool Matches(string[]? patterns, string value) =>
        patterns is null || patterns.Any(p => new WildcardPattern(p, WildcardOptions.IgnoreCase).IsMatch(value));
}
