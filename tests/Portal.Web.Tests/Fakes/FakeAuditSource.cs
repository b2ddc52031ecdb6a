using System.Collections.Concurrent;
using System.Collections.Immutable;
using Portal.Contracts;
using Portal.Web.Audit;

namespace Portal.Web.Tests.Fakes;

/// <summary>The Audit page's source: rows in memory, searched as the collector would; <see cref="Push"/> records one live.</summary>
public sealed class FakeAuditSource : IAuditSource
{
    private ImmutableList<Action<AuditRow>> _listeners = [];

    public List<AuditRow> Rows { get; } = [];

    public List<MissingHost> Missing { get; } = [];

    public ConcurrentQueue<AuditSearch> Searches { get; } = new();

    public IReadOnlyList<string> Hosts { get; set; } = ["alpha", "beta"];

    public int Listeners => _listeners.Count;

    public Task<AuditListing> ReadAsync(AuditSearch search, int limit, CancellationToken ct)
    {
        Searches.Enqueue(search);
        List<AuditRow> matching;
        lock (Rows)
        {
            matching = [.. Rows.Where(search.Matches).OrderByDescending(r => r.Entry.Time)];
        }

        return Task.FromResult(new AuditListing([.. matching.Take(limit)], [.. Missing.Where(m => search.Covers(m.Host))], matching.Count > limit));
    }

    public Task<IDisposable> FollowAsync(Action<AuditRow> onEntry, CancellationToken ct)
    {
        ImmutableInterlocked.Update(ref _listeners, l => l.Add(onEntry));
        return Task.FromResult<IDisposable>(new Unsubscribe(() => ImmutableInterlocked.Update(ref _listeners, l => l.Remove(onEntry))));
    }

    /// <summary>Records <paramref name="row"/> as a host would and tells the listeners.</summary>
    public void Push(AuditRow row)
    {
        lock (Rows)
        {
            Rows.Add(row);
        }

        foreach (var listener in _listeners)
        {
            listener(row);
        }
    }

    public static AuditRow Row(string host, long sequence, DateTimeOffset time, string action, string actor = "key ci (1a2b3c4d)",
        string? user = null, string? team = null, AuditDecision decision = AuditDecision.Allowed, string? rule = null, string? reason = null,
        string? targetName = "web") =>
        new(host, host == AuditRow.PortalSource, new AuditEntry
        {
            Sequence = sequence,
            Time = time,
            Actor = new AuditActor { Kind = AuditActorKind.ApiKey, Name = actor },
            User = user,
            Team = team,
            EntryPoint = AuditEntryPoint.Rest,
            Source = "127.0.0.1:50312",
            Action = action,
            Target = new AuditTarget { Host = host, Type = "container", Id = $"{sequence:x8}deadbeef", Name = targetName },
            RequestedIsolation = action == "container.create" ? RuntimeType.HyperV : null,
            EffectiveIsolation = action == "container.create" && decision != AuditDecision.Denied ? RuntimeType.HyperV : null,
            Decision = decision,
            Rule = rule,
            Reason = reason,
            Result = decision == AuditDecision.Denied ? AuditResult.NotRun : AuditResult.Ok,
        });

    private sealed class Unsubscribe(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}

/// <summary>
/// An agent's audit API in memory, paging as the agent does (entries after a sequence, oldest first, the filter applied,
/// next and lastSequence); the live stream is a channel the test writes.
/// </summary>
public sealed class FakeAgentAuditClient(Portal.Client.AgentEndpoint endpoint, List<AuditEntry> trail) : Portal.Client.IAgentAuditClient
{
    public Portal.Client.AgentEndpoint Endpoint { get; } = endpoint;

    public ConcurrentQueue<string> Calls { get; } = new();

    public System.Threading.Channels.Channel<AuditEntry> Live { get; } = System.Threading.Channels.Channel.CreateUnbounded<AuditEntry>();

    public Exception? Error { get; set; }

    public Task<AuditPage> ReadAsync(Portal.Client.AgentAuditFilter filter, long after, int limit, CancellationToken ct)
    {
        Calls.Enqueue($"Read after={after} limit={limit} action={filter.Action}");
        if (Error is { } error)
        {
            throw error;
        }

        List<AuditEntry> snapshot;
        lock (trail)
        {
            snapshot = [.. trail];
        }

        var matching = snapshot.Where(e => e.Sequence > after
            && (filter.Action is null || e.Action.Contains(filter.Action, StringComparison.OrdinalIgnoreCase))
            && (filter.Decision is not { } d || e.Decision == d)
            && (filter.Since is not { } s || e.Time >= s)
            && (filter.Until is not { } u || e.Time <= u)).ToList();
        var page = matching.Take(limit).ToList();
        return Task.FromResult(new AuditPage(page, matching.Count > limit ? page[^1].Sequence : null, snapshot.Count == 0 ? 0 : snapshot[^1].Sequence));
    }

    public async IAsyncEnumerable<AuditEntry> SubscribeAsync(long? after, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        Calls.Enqueue($"Subscribe after={after}");
        if (Error is { } error)
        {
            throw error;
        }

        await foreach (var entry in Live.Reader.ReadAllAsync(ct))
        {
            yield return entry;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
