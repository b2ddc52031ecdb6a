using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Audit;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests.Audit;

/// <summary>The portal's own trail: JSON Lines per UTC day, numbered on across restarts, searched newest first, days dropped by retention.</summary>
public sealed class PortalAuditLogTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-audit-log-").FullName;
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 12, 1, 23, 59, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Entries_are_numbered_on_across_restarts_and_days_and_read_newest_first()
    {
        var log = Open();
        var first = log.Record(Entry("auth.sign-in", "alice"));
        _time.Now = _time.Now.AddMinutes(2); // the next UTC day: a new file
        log.Record(Entry("auth.sign-in", "bob"));
        File.AppendAllText(Path.Combine(_directory, "portal-audit-2026-12-02.jsonl"), "{\"sequence\":3,\"time\":\n"); // a write cut short

        var reopened = Open();
        var third = reopened.Record(Entry("auth.sign-out", "alice"));

        Assert.Equal((1L, 3L), (first.Sequence, third.Sequence));
        Assert.Equal(_time.Now, third.Time);
        Assert.Equal(["portal-audit-2026-12-01.jsonl", "portal-audit-2026-12-02.jsonl"], Directory.GetFiles(_directory).Select(Path.GetFileName).Order());
        var (all, truncated) = reopened.Read(AuditSearch.All, 10);
        Assert.Equal([3L, 2, 1], all.Select(e => e.Sequence));
        Assert.False(truncated);
        var (alice, more) = reopened.Read(new AuditSearch { User = "ALICE" }, 1);
        Assert.Equal([3L], alice.Select(e => e.Sequence));
        Assert.True(more);
        var (old, _) = reopened.Read(new AuditSearch { Until = new DateTimeOffset(2026, 12, 1, 23, 59, 30, TimeSpan.Zero) }, 10);
        Assert.Equal([1L], old.Select(e => e.Sequence));
    }

    [Fact]
    public void Days_older_than_the_retention_are_dropped_whole()
    {
        var log = Open(retentionDays: 2);
        log.Record(Entry("auth.sign-in", "alice"));
        _time.Now = _time.Now.AddDays(1);
        log.Record(Entry("auth.sign-in", "bob"));
        _time.Now = _time.Now.AddDays(2);
        log.Record(Entry("auth.sign-in", "carol"));

        Assert.Equal(["portal-audit-2026-12-02.jsonl", "portal-audit-2026-12-04.jsonl"], Directory.GetFiles(_directory).Select(Path.GetFileName).Order());
        Assert.Equal([3L, 2], log.Read(AuditSearch.All, 10).Entries.Select(e => e.Sequence));
    }

    [Fact]
    public void A_negative_retention_is_refused_with_what_to_set() =>
        Assert.Contains("give the days to keep", Assert.Throws<InvalidOperationException>(() => Open(retentionDays: -1)).Message);

    private PortalAuditLog Open(int retentionDays = 90) => new(
        Options.Create(new PortalAuditOptions { AuditDirectory = _directory, AuditRetentionDays = retentionDays }),
        Options.Create(new PortalOptions()), _time, NullLogger<PortalAuditLog>.Instance);

    private static AuditEntry Entry(string action, string user) =>
        FakeAuditSource.Row(AuditRow.PortalSource, 0, DateTimeOffset.UnixEpoch, action, actor: user, user: user).Entry;

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
