using System.Management.Automation;
using Portal.Contracts;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>New-VMSwitch -Name n [-SwitchType Nat|Internal|Private] [-Subnet 10.89.7.0/24].</summary>
[Cmdlet(VerbsCommon.New, "VMSwitch", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(PortalSwitch))]
public sealed class NewVMSwitchCommand : PortalCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter]
    public SwitchType SwitchType { get; set; } = SwitchType.Nat;

    /// <summary>An IPv4 subnet in CIDR form; omitted: a free one from the host's pool.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Subnet { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess($"{Name} ({SwitchType}{(Subnet is null ? "" : ", " + Subnet)})", "New-VMSwitch"))
        {
            return;
        }

        var spec = new SwitchCreateSpec { Name = Name, Type = SwitchType, Subnet = Subnet };
        Try(() => WriteObject(PortalSwitch.From(Await(Client.CreateSwitchAsync(spec, Cancellation)), Agent)), Name);
    }
}
