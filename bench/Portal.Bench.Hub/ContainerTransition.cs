using Portal.Contracts;

namespace Portal.Bench.Hub;

/// <summary>
/// One measured event: a container started or stopped, identified by the timestamp the agent stamped on that
/// transition (StartedAt or FinishedAt), which the command's answer, the event stream and every subscriber's
/// upsert all carry unchanged.
/// </summary>
public readonly record struct ContainerTransition(string ContainerId, ContainerEventKind Kind, DateTimeOffset StampedAt)
{
    /// <summary>The transition a container's state records, or null for the states not measured (created, stopping).</summary>
    public static ContainerTransition? Of(ContainerInfo container) => container switch
    {
        { State: ContainerState.Running, StartedAt: { } started } => new ContainerTransition(container.Id, ContainerEventKind.Started, started),
        { State: ContainerState.Stopped, FinishedAt: { } finished } => new ContainerTransition(container.Id, ContainerEventKind.Stopped, finished),
        _ => null,
    };
}
