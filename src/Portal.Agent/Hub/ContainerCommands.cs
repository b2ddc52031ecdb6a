using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Hub;

/// <summary>Commands are data: what a client may offer for a container now, and why not otherwise.</summary>
public static class ContainerCommands
{
    public static ContainerView View(ContainerInfo c)
    {
        var other = c.RuntimeType == RuntimeType.HyperV ? RuntimeType.Default : RuntimeType.HyperV;
        var running = c.State is ContainerState.Running;
        return new ContainerView(c,
        [
            Command("start", "Start", c, ContainerOperation.Start, confirm: false),
            Command("stop", "Stop", c, ContainerOperation.Stop, confirm: false),
            Command("restart", "Restart", c, c.State == ContainerState.Stopping ? ContainerOperation.Start : ContainerOperation.Inspect, confirm: false),
            Command("kill", "Kill", c, ContainerOperation.Kill, confirm: true),
            Command("exec", "Terminal", c, ContainerOperation.Exec, confirm: false),
            new ContainerCommand("convert", $"Convert to {other}", c.State != ContainerState.Stopping, c.State == ContainerState.Stopping ? $"Container '{c.Name}' is stopping; wait until it has stopped." : null, RequiresConfirmation: running),
            Command("remove", "Remove", c, ContainerOperation.ForceRemove, confirm: true),
        ]);
    }

    private static ContainerCommand Command(string name, string display, ContainerInfo c, ContainerOperation operation, bool confirm)
    {
        var why = ContainerLifecycle.WhyNot(c.State, operation, c.Name);
        return new ContainerCommand(name, display, why is null, why, confirm);
    }
}
