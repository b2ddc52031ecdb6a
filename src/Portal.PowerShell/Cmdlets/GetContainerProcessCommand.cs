using System.Management.Automation;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// Get-ContainerProcess $con: the processes inside a running container, shaped like Get-Process's output, with HostId:
/// the PID the host's Get-Process shows for the same process (process isolation); empty under VM isolation.
/// </summary>
[Cmdlet(VerbsCommon.Get, "ContainerProcess", DefaultParameterSetName = ByName)]
[OutputType(typeof(ContainerProcess))]
public sealed class GetContainerProcessCommand : ContainerTargetCmdlet
{
    [Parameter]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? ProcessName { get; set; }

    protected override void Process(ContainerTarget target)
    {
        Try(() =>
        {
            var client = ClientFor(target);
            var container = target.Known ?? PortalContainer.From(Await(client.GetContainerAsync(target.Reference, Cancellation)), target.Agent);
            var processes = Await(client.GetProcessesAsync(container.ContainerId, Cancellation));
            WriteObject(
                processes
                    .Where(p => ProcessName is null || ProcessName.Any(n => new WildcardPattern(n, WildcardOptions.IgnoreCase).IsMatch(p.Name)))
                    .OrderBy(p => p.Pid)
                    .Select(p => ContainerProcess.From(p, container)),
                enumerateCollection: true);
        }, target.Known ?? (object)target.Reference);
    }
}
