using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Audit;
using Portal.Web.Hosts;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests.Audit;

/// <summary>The collector over fake agents: newest first across windows, hosts merged with the portal's own, offline hosts named, live streams.</summary>
public sealed class AuditCollectorTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private readonly string _auditDirectory = Directory.CreateTempSubdirectory("portal-audit-tests-").FullName;
    private readonly FakeAuditClients _audit = new();

    private PortalTestContext Ctx { get; } = new();

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task The_newest_entries_come_first_although_the_agent_pages_oldest_first()
    {
        var trail = Trail("alpha", 5_000, i => i % 10 == 0 ? "container.remove" : "container.start");
        var client = new FakeAgentAuditClient(AgentEndpoint.Parse("http://alpha.test:5081", "k"), trail);

        var (entries, truncated) = await NewestAuditReader.ReadAsync(client, new AgentAuditFilter { Action = "remove" }, _ => true, 30, CancellationToken.None);

        Assert.True(truncated);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => 5_000L - (i * 10)), entries.Select(e => e.Sequence));
        // The newest window only, not the 4000 older entries.
        Assert.DoesNotContain(client.Calls, c => c.StartsWith("Read after=0 limit=1000", StringComparison.Ordinal));

        var (all, more) = await NewestAuditReader.ReadAsync(client, new AgentAuditFilter { Action = "remove" }, e => e.Sequence % 1000 == 0, 30, CancellationToken.None);
        Assert.False(more);
        Assert.Equal([5000L, 4000, 3000, 2000, 1000], all.Select(e => e.Sequence));
    }

    [Fact]
    public async Task Hosts_and_the_portal_merge_by_time_and_an_offline_host_is_named_not_dropped()
    {
        _audit.Trails["http://alpha.test:5081"] = [Entry("alpha", 1, T0, "container.create", team: "blue"), Entry("alpha", 2, DateTimeOffset.UtcNow.AddHours(1), "container.remove", team: "blue")];
        await Ctx.AddHostAsync("alpha");
        Ctx.Clients.Configure = c => c.ConnectError = c.Endpoint.Display.Contains("beta", StringComparison.Ordinal)
            ? new AgentException(AgentException.Unreachable, "The agent at http://beta.test:5081 is not reachable: Connection refused.")
            : null;
        var beta = await Ctx.Fleet.AddAsync("beta", "http://beta.test:5081", "pk_test_secret", CancellationToken.None);
        await PortalTestContext.Eventually(() => beta.State == HostConnectionState.Reconnecting);
        var (collector, log) = Collector();
        log.Record(Entry("portal", 0, T0, "auth.sign-in", team: null)); // recorded now: between the two

        var listing = await collector.ReadAsync(AuditSearch.All, 10, CancellationToken.None);

        Assert.Equal(["host:alpha#2", "portal#1", "host:alpha#1"], listing.Rows.Select(r => r.Key));
        var missing = Assert.Single(listing.Missing);
        Assert.Equal("beta", missing.Host);
        Assert.Contains("Connection refused", missing.Reason);
        Assert.False(listing.Truncated);

        var blue = await collector.ReadAsync(new AuditSearch { Team = "blue", Host = "alpha" }, 1, CancellationToken.None);
        Assert.Equal(["host:alpha#2"], blue.Rows.Select(r => r.Key));
        Assert.True(blue.Truncated);
        Assert.Empty(blue.Missing);

        _audit.Errors["http://alpha.test:5081"] = new AgentException("Forbidden", "The caller's scope is Operate; audit.read needs Admin.", 403);
        var refused = await collector.ReadAsync(AuditSearch.All, 10, CancellationToken.None);
        Assert.Contains(refused.Missing, m => m.Host == "alpha" && m.Reason.Contains("Admin key", StringComparison.Ordinal));
        await collector.DisposeAsync();
    }

    [Fact]
    public async Task While_followed_each_host_streams_live_and_a_dropped_stream_resumes_after_the_last_sequence()
    {
        await Ctx.AddHostAsync("alpha");
        var (collector, log) = Collector();
        var seen = new ConcurrentQueue<AuditRow>();

        _audit.Trails["http://alpha.test:5081"] = [Entry("alpha", 1, T0, "container.create"), Entry("alpha", 2, T0, "container.start")];
        using (await collector.FollowAsync(seen.Enqueue, CancellationToken.None))
        {
            // Ready: the stream starts after the newest entry it found.
            var first = _audit.Latest("http://alpha.test:5081")!;
            await PortalTestContext.Eventually(() => first.Calls.Contains("Subscribe after=2"));
            await first.Live.Writer.WriteAsync(Entry("alpha", 7, T0, "container.start"));
            log.Record(Entry("portal", 0, T0, "auth.sign-out"));
            await PortalTestContext.Eventually(() => seen.Count == 2);
            Assert.Contains(seen, r => r.Key == "host:alpha#7");
            Assert.Contains(seen, r => r.Key == "portal#1" && r.Entry.Action == "auth.sign-out");

            first.Live.Writer.Complete(new AgentException(AgentException.Unreachable, "the connection dropped"));
            var second = await PortalTestContext.Eventually(() => _audit.Latest("http://alpha.test:5081") is { } c && c != first ? c : null);
            await PortalTestContext.Eventually(() => second.Calls.Contains("Subscribe after=7"));
        }

        await PortalTestContext.Eventually(() => collector.Followed.Count == 0);
        await collector.DisposeAsync();
    }

    public async Task DisposeAsync()
    {
        await Ctx.Fleet.DisposeAsync();
        await Ctx.DisposeAsync();
        Directory.Delete(_auditDirectory, recursive: true);
    }

    private (AuditCollector Collector, PortalAuditLog Log) Collector()
    {
        var log = new PortalAuditLog(Options.Create(new PortalAuditOptions { AuditDirectory = _auditDirectory }), Options.Create(Ctx.Options), TimeProvider.System, NullLogger<PortalAuditLog>.Instance);
        return (new AuditCollector(Ctx.Fleet, _audit, log, Options.Create(Ctx.Options), TimeProvider.System, NullLogger<AuditCollector>.Instance), log);
    }

    private static List<AuditEntry> Trail(string host, int count, Func<int, string> action) =>
        [.. Enumerable.Range(1, count).Select(i => Entry(host, i, T0.AddSeconds(i), action(i)))];

    private static AuditEntry Entry(string host, long sequence, DateTimeOffset time, string action, string? team = null) =>
        FakeAuditSource.Row(host, sequence, time, action, team: team).Entry;

    /// <summary>Audit clients over in-memory trails, per agent address; each client's live stream is the test's to write.</summary>
    private sealed class FakeAuditClients : IAgentAuditClientFactory
    {
        private readonly ConcurrentQueue<FakeAgentAuditClient> _created = new();

        public ConcurrentDictionary<string, List<AuditEntry>> Trails { get; } = new();

        public ConcurrentDictionary<string, Exception> Errors { get; } = new();

        public FakeAgentAuditClient? Latest(string display) => _created.LastOrDefault(c => c.Endpoint.Display == display);

        public IAgentAuditClient Create(AgentEndpoint endpoint)
        {
            var client = new FakeAgentAuditClient(endpoint, Trails.GetOrAdd(endpoint.Display, _ => []));
            client.Error = Errors.GetValueOrDefault(endpoint.Display);
            _created.Enqueue(client);
            return client;
        }
    }
}
