using Microsoft.Extensions.Logging;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>Raises <see cref="IContainerService.Changed"/> after each persisted change; a failing handler is logged, never thrown back into the lifecycle.</summary>
public sealed class ContainerEvents(ILogger<ContainerEvents> logger)
{
    public event Action<ContainerEvent>? Changed;

    public void Raise(ContainerEventKind kind, ContainerRecord record, string? message = null)
    {
        try
        {
            Changed?.Invoke(new ContainerEvent(kind, record.ToInfo(), DateTimeOffset.UtcNow, message));
        }
        catch (Exception e)
        {
            logger.LogError(e, "A container event handler failed");
        }
    }
}
