using System.Management.Automation;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Stop-Container $con: SIGTERM, then SIGKILL after -TimeoutSeconds; -Kill stops at once.</summary>
[Cmdlet(VerbsLifecycle.Stop, "Container", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByName)]
[OutputType(typeof(Model.PortalContainer))]
public sealed class StopContainerCommand : ContainerTargetCmdlet
{
    [Parameter]
    [ValidateRange(0, 3600)]
    [Alias("Timeout")]
    public double? TimeoutSeconds { get; set; }

    /// <summary>SIGKILL without waiting (Stop-VM -TurnOff).</summary>
    [Parameter]
    [Alias("TurnOff")]
    public SwitchParameter Kill { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process(ContainerTarget target)
    {
        if (!ShouldProcess(target.Display, Kill ? "Stop-Container (kill)" : "Stop-Container"))
        {
            return;
        }

        Try(() =>
        {
            var client = ClientFor(target);
            var stopped = Kill
                ? Await(client.TerminateContainerAsync(target.Reference, Cancellation))
                : Await(client.StopContainerAsync(target.Reference, TimeoutSeconds, Cancellation));
            if (PassThru)
            {
                WriteContainer(target, stopped);
            }
        }, target.Known ?? (object)target.Reference);
    }
}
