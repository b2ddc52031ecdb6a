using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// POST /containers/{id}/wait conditions on the compute service's events. The subscription is made before the
/// current state is read, so an exit between the two is not missed (docker run waits before it starts).
/// </summary>
internal sealed class DockerContainerWaiter : IDisposable
{
    private readonly IComputeHost _service;
    private readonly string _id;
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DockerContainerWaiter(IComputeHost service, string idOrName)
    {
        _service = service;
        _id = service.Containers.GetContainer(idOrName).Id;
        service.Containers.Changed += OnChanged;
        Current = service.Containers.GetContainer(_id);
    }

    /// <summary>The container as it was right after subscribing.</summary>
    public ContainerInfo Current { get; }

    public static void Validate(string? condition)
    {
        if (condition is not (null or "" or "not-running" or "next-exit" or "removed"))
        {
            throw DockerApiException.BadParameter($"invalid condition: \"{condition}\": use not-running, next-exit or removed");
        }
    }

    /// <summary>The exit code the condition ends with.</summary>
    public async Task<int> WaitAsync(string? condition, CancellationToken ct)
    {
        switch (condition)
        {
            case "next-exit":
                return await _exited.Task.WaitAsync(ct).ConfigureAwait(false);
            case "removed":
                return await _removed.Task.WaitAsync(ct).ConfigureAwait(false);
            default:
                if (Current.State is ContainerState.Created or ContainerState.Stopped)
                {
                    return Current.ExitCode ?? 0;
                }

                return await _exited.Task.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    private void OnChanged(ContainerEvent e)
    {
        if (e.Container.Id != _id)
        {
            return;
        }

        if (e.Kind == ContainerEventKind.Stopped)
        {
            _exited.TrySetResult(e.Container.ExitCode ?? 0);
        }
        else if (e.Kind == ContainerEventKind.Removed)
        {
            var code = e.Container.ExitCode ?? 0;
            _exited.TrySetResult(code);
            _removed.TrySetResult(code);
        }
    }

    public void Dispose() => _service.Containers.Changed -= OnChanged;
}
