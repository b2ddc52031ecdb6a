using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Agent.Hub;

/// <summary>
/// Fans container events out to every subscriber, each through its own channel so a slow subscriber never holds up
/// the others or the compute service (the Aspire dashboard's pattern).
/// </summary>
public sealed class ContainerFeed : IDisposable
{
    // Each subscriber with the team it acts for (null: administrators see everything).
    private readonly Dictionary<Channel<ContainerEvent>, string?> _subscribers = [];
    private readonly Lock _lock = new();
    private readonly IComputeHost _compute;
    private bool _hooked;

    public ContainerFeed(IComputeHost compute) => _compute = compute;

    /// <summary>
    /// Starts receiving events now; take the snapshot after this call so nothing falls between the two. A caller acting
    /// for a team (<see cref="AuditCaller.Current"/>) receives only its team's containers' events.
    /// </summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateUnbounded<ContainerEvent>(new UnboundedChannelOptions { SingleReader = true });
        var team = AuditCaller.Current?.Team;
        lock (_lock)
        {
            if (!_hooked)
            {
                // The one hook sees every event, whoever subscribes first: the team-scoped host filters by the caller.
                var caller = AuditCaller.Current;
                AuditCaller.Current = null;
                try
                {
                    _compute.Containers.Changed += Publish;
                }
                finally
                {
                    AuditCaller.Current = caller;
                }

                _hooked = true;
            }

            _subscribers.Add(channel, team);
        }

        return new Subscription(this, channel);
    }

    private void Publish(ContainerEvent change)
    {
        lock (_lock)
        {
            foreach (var (subscriber, team) in _subscribers)
            {
                if (team is null || TeamScopedComputeHost.Owns(team, change.Container))
                {
                    subscriber.Writer.TryWrite(change);
                }
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
            foreach (var subscriber in _subscribers.Keys)
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
