using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Agent.Hub;

/// <summary>
/// Fans container events out to every subscriber, each through its own channel so a slow subscriber never holds up
/// the others or the compute service (the Aspire dashboard's pattern).
/// </summary>
public sealed class ContainerFeed : IDisposable
{
    private readonly HashSet<Channel<ContainerEvent>> _subscribers = [];
    private readonly Lock _lock = new();
    private readonly IComputeHost _compute;
    private bool _hooked;

    public ContainerFeed(IComputeHost compute) => _compute = compute;

    /// <summary>Starts receiving events now; take the snapshot after this call so nothing falls between the two.</summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateUnbounded<ContainerEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            if (!_hooked)
            {
                _compute.Containers.Changed += Publish;
                _hooked = true;
            }

            _subscribers.Add(channel);
        }

        return new Subscription(this, channel);
    }

    private void Publish(ContainerEvent change)
    {
        lock (_lock)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(change);
            }
        }
    }

    private void Remove(Channel<ContainerEvent> channel)
    {
        lock (_lock)
        {
            _subscribers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryComplete();
            }

            _subscribers.Clear();
        }
    }

    public sealed class Subscription(ContainerFeed feed, Channel<ContainerEvent> channel) : IDisposable
    {
        /// <summary>Everything that arrived since the last batch, as soon as there is something.</summary>
        public async IAsyncEnumerable<IReadOnlyList<ContainerEvent>> ReadBatchesAsync([EnumeratorCancellation] CancellationToken ct)
        {
            while (await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                var batch = new List<ContainerEvent>();
                while (channel.Reader.TryRead(out var change))
                {
                    batch.Add(change);
                }

                yield return batch;
            }
        }

        public void Dispose() => feed.Remove(channel);
    }
}
