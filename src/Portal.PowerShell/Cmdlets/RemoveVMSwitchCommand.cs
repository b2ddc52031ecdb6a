using System.Management.Automation;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Remove-VMSwitch [-Name] n: refused while a container uses the switch.</summary>
[Cmdlet(VerbsCommon.Remove, "VMSwitch", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveVMSwitchCommand : PortalCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess(name, "Remove-VMSwitch"))
            {
                Try(() => Await(Client.RemoveSwitchAsync(name, Cancellation)), name);
            }
        }
    }
}
