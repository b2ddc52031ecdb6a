using Portal.Contracts;

namespace Portal.Compute.Containers;

public enum ContainerOperation
{
    Start,
    Stop,
    Kill,
    Exec,
    Remove,
    ForceRemove,
    Convert,
    Inspect,
}

/// <summary>The container lifecycle as an explicit state machine: which operation is allowed in which state, and why not.</summary>
public static class ContainerLifecycle
{
    private static readonly Dictionary<ContainerOperation, ContainerState[]> Allowed = new()
    {
        [ContainerOperation.Start] = [ContainerState.Created, ContainerState.Stopped],
        [ContainerOperation.Stop] = [ContainerState.Running, ContainerState.Stopping],
        [ContainerOperation.Kill] = [ContainerState.Running, ContainerState.Stopping],
        [ContainerOperation.Exec] = [ContainerState.Running],
        [ContainerOperation.Remove] = [ContainerState.Created, ContainerState.Stopped],
        [ContainerOperation.ForceRemove] = [ContainerState.Created, ContainerState.Running, ContainerState.Stopping, ContainerState.Stopped],
        [ContainerOperation.Convert] = [ContainerState.Created, ContainerState.Stopped],
        [ContainerOperation.Inspect] = [ContainerState.Created, ContainerState.Running, ContainerState.Stopping, ContainerState.Stopped],
    };

    public static bool CanApply(ContainerState state, ContainerOperation operation) => Allowed[operation].Contains(state);

    /// <summary>Null when the operation is possible now, else the reason it is not and what to do instead.</summary>
    public static string? WhyNot(ContainerState state, ContainerOperation operation, string name) => CanApply(state, operation)
        ? null
        : (operation, state) switch
        {
            (ContainerOperation.Start, _) => $"Container '{name}' is already {Describe(state)}; stop it first, or restart it.",
            (ContainerOperation.Stop or ContainerOperation.Kill, _) => $"Container '{name}' is not running (it is {Describe(state)}); start it first.",
            (ContainerOperation.Exec, _) => $"Container '{name}' is not running (it is {Describe(state)}); start it before running a process in it.",
            (ContainerOperation.Remove, _) => $"Container '{name}' is {Describe(state)}; stop it first, or remove it with force.",
            (ContainerOperation.Convert, _) => $"Container '{name}' is {Describe(state)}; stop it first, or convert with restart.",
            _ => $"Container '{name}' is {Describe(state)}; '{operation}' is not possible now.",
        };

    public static void Ensure(ContainerState state, ContainerOperation operation, string name)
    {
        if (WhyNot(state, operation, name) is { } reason)
        {
            throw new ComputeException(ComputeErrorCode.InvalidTransition, reason);
        }
    }

    private static string Describe(ContainerState state) => state switch
    {
        ContainerState.Created => "created but not started",
        ContainerState.Running => "running",
        ContainerState.Stopping => "stopping",
        _ => "stopped",
    };
}
