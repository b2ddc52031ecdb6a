using System.Management.Automation;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Start-Container $con.</summary>
[Cmdlet(VerbsLifecycle.Start, "Container", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = ByName)]
[OutputType(typeof(Model.PortalContainer))]
public sealed class StartContainerCommand : ContainerTargetCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process(ContainerTarget target)
    {
        if (!ShouldProcess(target.Display, "Start-Container"))
        {
            return;
        }

        Try(() =>
        {
            var started = Await(ClientFor(target).StartContainerAsync(target.Reference, Cancellation));
            if (PassThru)
            {
                WriteContainer(target, started);
            }
        }, target.Known ?? (object)target.Reference);
    }
}
