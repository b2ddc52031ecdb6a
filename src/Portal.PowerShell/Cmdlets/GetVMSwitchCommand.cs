using System.Management.Automation;
using Portal.Contracts;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Get-VMSwitch [[-Name] pattern]: the host's virtual switches (the built-in none first) and who is connected.</summary>
[Cmdlet(VerbsCommon.Get, "VMSwitch")]
[OutputType(typeof(PortalSwitch))]
public sealed class GetVMSwitchCommand : PortalCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    [Parameter]
    public SwitchType[]? SwitchType { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<SwitchInfo> switches = [];
        if (!Try(() => switches = Await(Client.ListSwitchesAsync(Cancellation)), null))
        {
            return;
        }

        var rows = switches
            .Where(s => (Name is null || Name.Any(p => new WildcardPattern(p, WildcardOptions.IgnoreCase).IsMatch(s.Name) || s.Aliases.Any(a => new WildcardPattern(p, WildcardOptions.IgnoreCase).IsMatch(a))))
                && (SwitchType is null || SwitchType.Contains(s.Type)))
            .Select(s => PortalSwitch.From(s, Agent));
        WriteObject(rows, enumerateCollection: true);
    }
}
