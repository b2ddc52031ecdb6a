using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// HostConfig.AutoRemove (docker run --rm), done by the engine as dockerd does: a container so marked is removed once
/// it has stopped, also when it stopped while the agent was down.
/// </summary>
public sealed class DockerAutoRemover(DockerCompute compute, ILogger<DockerAutoRemover> logger) : IDisposable
{
    private IComputeHost? _service;

    public void Start() => _ = StartAsync();

    private async Task StartAsync()
    {
        try
        {
            await compute.Ready.ConfigureAwait(false);
            var service = compute.Host;
            _service = service;
            service.Containers.Changed += OnChanged;
            foreach (var container in service.Containers.ListContainers().Where(c => c.State == ContainerState.Stopped && DockerContainerView.AutoRemove(c)))
            {
                _ = RemoveAsync(service, container);
            }
        }
        catch (Exception e) when (e is ComputeException or InvalidOperationException or IOException or OperationCanceledException)
        {
            logger.LogError(e, "Auto-removal of docker --rm containers is off: the compute host did not start");
        }
    }

    private void OnChanged(ContainerEvent e)
    {
        // Runs on the changing thread (under the container's lock): removal goes on another.
        if (e.Kind is ContainerEventKind.Stopped or ContainerEventKind.Failed && e.Container.State is ContainerState.Stopped or ContainerState.Created
            && DockerContainerView.AutoRemove(e.Container) && _service is { } service)
        {
            _ = Task.Run(() => RemoveAsync(service, e.Container));
        }
    }

    private async Task RemoveAsync(IComputeHost service, ContainerInfo container)
    {
        // The engine removes it, whoever stopped it (the event may run inside that caller's request).
        AuditCaller.Current = AuditCaller.Agent("docker --rm", AuditEntryPoint.Docker);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            try
            {
                await service.Containers.RemoveContainerAsync(container.Id, force: false).ConfigureAwait(false);
                return;
            }
            catch (ComputeException e) when (e.Code == ComputeErrorCode.ContainerNotFound)
            {
                return; // removed by someone else (docker rm)
            }
            catch (ComputeException e) when (e.Code == ComputeErrorCode.InvalidTransition)
            {
                // Started again (docker start) or still finishing its stop: look again shortly.
                await Task.Delay(250).ConfigureAwait(false);
                try
                {
                    if (service.Containers.GetContainer(container.Id).State is ContainerState.Running)
                    {
                        return; // it runs again; its next stop removes it
                    }
                }
                catch (ComputeException)
                {
                    return;
                }
            }
            catch (Exception e) when (e is ComputeException or IOException or UnauthorizedAccessException)
            {
                logger.LogError(e, "Could not auto-remove container {Name} ({Id})", container.Name, container.Id);
                return;
            }
        }
    }

    public void Dispose()
    {
        if (_service is { } service)
        {
            service.Containers.Changed -= OnChanged;
        }
    }
}
