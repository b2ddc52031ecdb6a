using System.Management.Automation;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Remove-Container $con; -Force stops a running container first.</summary>
[Cmdlet(VerbsCommon.Remove, "Container", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByName)]
public sealed class RemoveContainerCommand : ContainerTargetCmdlet
{
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process(ContainerTarget target)
    {
        if (!ShouldProcess(target.Display, Force ? "Remove-Container (stopping it first if it runs)" : "Remove-Container"))
        {
            return;
        }

        Try(() => Await(ClientFor(target).RemoveContainerAsync(target.Reference, Force, Cancellation)), target.Known ?? (object)target.Reference);
    }
}
