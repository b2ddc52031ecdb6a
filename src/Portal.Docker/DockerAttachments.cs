using System.Collections.Concurrent;
using Portal.Compute.Containers;

namespace Portal.Docker;

/// <summary>
/// Live attachments by container id: POST /containers/{id}/resize arrives on its own connection and resizes the
/// terminal through the newest attachment of that container.
/// </summary>
public sealed class DockerAttachments
{
    private readonly ConcurrentDictionary<string, ContainerAttachment> _byContainer = new(StringComparer.Ordinal);

    public IDisposable Register(string containerId, ContainerAttachment attachment)
    {
        _byContainer[containerId] = attachment;
        return new Registration(() => _byContainer.TryRemove(new KeyValuePair<string, ContainerAttachment>(containerId, attachment)));
    }

    public ContainerAttachment? Find(string containerId) => _byContainer.GetValueOrDefault(containerId);

    private sealed class Registration(Action release) : IDisposable
    {
        public void Dispose() => release();
    }
}
