using System.Management.Automation;
using Portal.Contracts;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// Set-Container $con -RuntimeType HyperV: converts between process and VM isolation over the same disks. A running
/// container needs -Restart (it is stopped, converted and started again).
/// </summary>
[Cmdlet(VerbsCommon.Set, "Container", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByName)]
[OutputType(typeof(Model.PortalContainer))]
public sealed class SetContainerCommand : ContainerTargetCmdlet
{
    [Parameter(Mandatory = true)]
    public RuntimeType RuntimeType { get; set; }

    [Parameter]
    public SwitchParameter Restart { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process(ContainerTarget target)
    {
        if (!ShouldProcess(target.Display, $"Set runtime type to {RuntimeType}{(Restart ? " (restarting it if it runs)" : "")}"))
        {
            return;
        }

        Try(() =>
        {
            var (converted, warnings) = Await(ClientFor(target).ConvertContainerWithWarningsAsync(target.Reference, RuntimeType, Restart, null, Cancellation));
            foreach (var warning in warnings)
            {
                WriteWarning(warning);
            }

            if (PassThru)
            {
                WriteContainer(target, converted);
            }
        }, target.Known ?? (object)target.Reference);
    }
}
