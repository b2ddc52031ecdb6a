using System.Text;
using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Compute.Tests.Audit;

/// <summary>
/// The audit trail's store: numbered appends in O_APPEND segment files, continued across restarts and cut lines,
/// rotated and bounded by size and age, read with filters and paging, streamed to subscribers, and every one of many
/// concurrent appends kept exactly once. Unit tier: real files, no root.
/// </summary>
public sealed class AuditLogTests : IDisposable
{
    private readonly string _directory = Path.Combine(Directory.CreateTempSubdirectory("portal-audit-").FullName, "audit");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_directory)!, recursive: true);

    private static AuditEntry Entry(string action = AuditActions.ContainerCreate, string? name = "web", string actor = "key ci (1a2b3c4d)",
        AuditDecision decision = AuditDecision.Allowed, AuditEntryPoint entryPoint = AuditEntryPoint.Rest, string? id = null) => new()
    {
        Actor = entryPoint == AuditEntryPoint.Docker
            ? new AuditActor { Kind = AuditActorKind.DockerSocket, Name = actor, Uid = 0 }
            : new AuditActor { Kind = AuditActorKind.ApiKey, Name = actor, KeyId = "1a2b3c4d", KeyName = "ci" },
        EntryPoint = entryPoint,
        Source = "127.0.0.1:5555",
        Action = action,
        Target = new AuditTarget { Host = "h", Type = "container", Id = id, Name = name },
        Decision = decision,
        Result = decision == AuditDecision.Denied ? AuditResult.NotRun : AuditResult.Ok,
    };

    [Fact]
    public void Entries_are_numbered_stamped_and_kept_in_private_files_and_the_numbering_continues_after_a_restart()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.FromHours(2)));
        using (var log = new AuditLog(new AuditLogOptions(), _directory, time))
        {
            Assert.Equal(0, log.LastSequence);
            var first = log.Append(Entry(name: "a"));
            var second = log.Append(Entry(name: "b"));
            Assert.Equal((1, 2), (first.Sequence, second.Sequence));
            Assert.Equal(TimeSpan.Zero, first.Time.Offset);
            Assert.Equal(time.GetUtcNow(), first.Time);
        }

        Assert.Equal(AuditLog.DirectoryMode, File.GetUnixFileMode(_directory));
        var file = Assert.Single(Directory.GetFiles(_directory));
        Assert.Equal("audit-00000000000000000001.jsonl", Path.GetFileName(file));
        Assert.Equal(AuditLog.FileMode, File.GetUnixFileMode(file));
        Assert.Equal(2, File.ReadAllLines(file).Length);

        using (var log = new AuditLog(new AuditLogOptions(), _directory, time))
        {
            Assert.Equal(2, log.LastSequence);
            Assert.Equal(3, log.Append(Entry(name: "c")).Sequence);
            Assert.Equal(["a", "b", "c"], log.Read(new AuditQuery()).Entries.Select(e => e.Target!.Name));
        }
    }

    [Fact]
    public void A_line_cut_by_a_power_loss_is_skipped_and_the_next_entry_starts_on_its_own_line()
    {
        using (var log = new AuditLog(new AuditLogOptions(), _directory))
        {
            log.Append(Entry(name: "whole"));
        }

        var file = Assert.Single(Directory.GetFiles(_directory));
        File.AppendAllText(file, "{\"sequence\":2,\"time\":\"2026-12-03T10:00:00Z\",\"act");
        using (var log = new AuditLog(new AuditLogOptions(), _directory))
        {
            Assert.Equal(1, log.LastSequence);
            log.Append(Entry(name: "after"));
            var page = log.Read(new AuditQuery());
            Assert.Equal([(1L, "whole"), (2L, "after")], page.Entries.Select(e => (e.Sequence, e.Target!.Name!)));
        }
    }

    [Fact]
    public void Segments_roll_at_their_size_the_oldest_go_past_the_byte_bound_and_the_rest_stay_whole_and_in_order()
    {
        var options = new AuditLogOptions { MaxBytes = 64 << 10, SegmentBytes = 8 << 10, SyncEachEntry = false };
        using var log = new AuditLog(options, _directory);
        for (var i = 0; i < 1000; i++)
        {
            log.Append(Entry(name: $"c{i:D4}"));
        }

        var segments = AuditLog.Segments(_directory);
        Assert.InRange(segments.Count, 3, 10);
        var sizes = segments.Select(s => new FileInfo(s.Path).Length).ToList();
        Assert.All(sizes, s => Assert.InRange(s, 1, options.SegmentBytes));
        Assert.InRange(sizes.Sum(), options.MaxBytes / 2, options.MaxBytes + options.SegmentBytes);

        // What is left is the newest entries without a gap, each segment starting where its name says.
        var all = Read(log, new AuditQuery());
        Assert.Equal(1000, all[^1].Sequence);
        Assert.Equal(Enumerable.Range((int)all[0].Sequence, all.Count).Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.True(all[0].Sequence > 1, "the oldest entries should have gone");
        Assert.All(segments, s => Assert.Equal(s.First, AuditLog.ReadSegment(s.Path).First().Sequence));

        // after= skips to the right segment.
        var page = log.Read(new AuditQuery { After = 990, Limit = 5 });
        Assert.Equal([991L, 992, 993, 994, 995], page.Entries.Select(e => e.Sequence));
        Assert.Equal(995, page.Next);
        Assert.Equal(1000, page.LastSequence);
    }

    [Fact]
    public void A_new_day_starts_a_segment_and_segments_older_than_the_retention_days_go()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var options = new AuditLogOptions { RetentionDays = 2 };
        using var log = new AuditLog(options, _directory, time);
        log.Append(Entry(name: "old"));
        var oldSegment = Assert.Single(AuditLog.Segments(_directory));
        File.SetLastWriteTimeUtc(oldSegment.Path, time.GetUtcNow().UtcDateTime); // the files' times follow the test's clock

        time.Advance(TimeSpan.FromDays(1));
        log.Append(Entry(name: "yesterday's news"));
        Assert.Equal(2, AuditLog.Segments(_directory).Count);
        File.SetLastWriteTimeUtc(AuditLog.Segments(_directory)[^1].Path, time.GetUtcNow().UtcDateTime);

        // Three days after the first segment was last written it is past the retention (the second is just within it);
        // the next entry's pass drops it.
        time.Advance(TimeSpan.FromDays(2));
        log.Append(Entry(name: "new"));
        Assert.DoesNotContain(oldSegment, AuditLog.Segments(_directory));
        Assert.Equal(["yesterday's news", "new"], log.Read(new AuditQuery()).Entries.Select(e => e.Target!.Name));
        Assert.Equal(3, log.LastSequence);
    }

    [Fact]
    public void Filters_narrow_and_paging_follows_the_sequence()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        using var log = new AuditLog(new AuditLogOptions { SyncEachEntry = false }, _directory, time);
        log.Append(Entry(AuditActions.ContainerCreate, "web", id: "abcdef0123"));
        time.Advance(TimeSpan.FromMinutes(1));
        log.Append(Entry(AuditActions.ContainerRemove, "web", id: "abcdef0123", entryPoint: AuditEntryPoint.Docker, actor: "root (uid 0) via the docker socket"));
        time.Advance(TimeSpan.FromMinutes(1));
        log.Append(Entry(AuditActions.SwitchCreate, "lan", decision: AuditDecision.Denied, entryPoint: AuditEntryPoint.Hub));
        time.Advance(TimeSpan.FromMinutes(1));
        log.Append(Entry(AuditActions.KeyCreate, "ci", entryPoint: AuditEntryPoint.PowerShell));

        long[] Sequences(AuditQuery q) => log.Read(q).Entries.Select(e => e.Sequence).ToArray();
        Assert.Equal([1L, 2, 3, 4], Sequences(new AuditQuery()));
        Assert.Equal([1L, 3, 4], Sequences(new AuditQuery { Action = "create" }));
        Assert.Equal([1L, 2], Sequences(new AuditQuery { Action = "CONTAINER" }));
        Assert.Equal([2L], Sequences(new AuditQuery { Action = "container.remove" }));
        Assert.Empty(Sequences(new AuditQuery { Action = "contain" }));
        Assert.Equal([2L], Sequences(new AuditQuery { Actor = "docker socket" }));
        Assert.Equal([1L, 3, 4], Sequences(new AuditQuery { Actor = "CI" }));
        Assert.Equal([1L, 2], Sequences(new AuditQuery { Target = "abcdef" }));
        Assert.Equal([3L], Sequences(new AuditQuery { Target = "LAN" }));
        Assert.Equal([3L], Sequences(new AuditQuery { Decision = AuditDecision.Denied }));
        Assert.Equal([4L], Sequences(new AuditQuery { EntryPoint = AuditEntryPoint.PowerShell }));
        Assert.Equal([2L, 3], Sequences(new AuditQuery { Since = time.Start.AddMinutes(1), Until = time.Start.AddMinutes(2) }));

        var first = log.Read(new AuditQuery { Action = "create", Limit = 2 });
        Assert.Equal([1L, 3], first.Entries.Select(e => e.Sequence));
        Assert.Equal(3, first.Next);
        var second = log.Read(new AuditQuery { Action = "create", Limit = 2, After = first.Next!.Value });
        Assert.Equal([4L], second.Entries.Select(e => e.Sequence));
        Assert.Null(second.Next);
        Assert.Equal(4, second.LastSequence);
    }

    [Fact]
    public async Task Concurrent_appends_keep_every_entry_exactly_once_with_gapless_numbers_across_rolls()
    {
        // fdatasync on: the shared flush is part of what runs concurrently.
        var options = new AuditLogOptions { MaxBytes = 16L << 20, SegmentBytes = 16 << 10 };
        using var log = new AuditLog(options, _directory);
        const int Writers = 8;
        const int Each = 100;
        var returned = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < Each; i++)
            {
                returned.Add(log.Append(Entry(name: $"w{w}-{i}")).Sequence);
            }
        })));

        Assert.True(AuditLog.Segments(_directory).Count > 2, "the test should cross segment rolls");
        var all = Read(log, new AuditQuery());
        Assert.Equal(Writers * Each, all.Count);
        Assert.Equal(Enumerable.Range(1, Writers * Each).Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(all.Select(e => e.Sequence).Order(), returned.Order());
        Assert.Equal(Writers * Each, all.Select(e => e.Target!.Name).Distinct().Count());
        var lines = AuditLog.Segments(_directory).SelectMany(s => File.ReadAllLines(s.Path)).ToList();
        Assert.Equal(Writers * Each, lines.Count);
    }

    [Fact]
    public async Task Subscribers_get_new_entries_in_order_and_one_that_falls_too_far_behind_is_ended_with_what_to_do()
    {
        using var log = new AuditLog(new AuditLogOptions { SyncEachEntry = false, MaxBytes = 64L << 20 }, _directory);
        log.Append(Entry(name: "before"));
        using (var subscription = log.Subscribe())
        {
            log.Append(Entry(name: "one"));
            log.Append(Entry(name: "two"));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            Assert.Equal("one", (await subscription.Entries.ReadAsync(timeout.Token)).Target!.Name);
            Assert.Equal(3, (await subscription.Entries.ReadAsync(timeout.Token)).Sequence);
        }

        using var slow = log.Subscribe();
        for (var i = 0; i <= AuditLog.SubscriberBacklog; i++)
        {
            log.Append(Entry(name: $"flood{i}"));
        }

        var drained = 0;
        var error = await Assert.ThrowsAsync<ComputeException>(async () =>
        {
            await foreach (var _ in slow.Entries.ReadAllAsync())
            {
                drained++;
            }
        });
        Assert.Equal(AuditLog.SubscriberBacklog, drained);
        Assert.Equal(ComputeErrorCode.Unavailable, error.Code);
        Assert.Contains("after=", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1000, 512, 0)]
    [InlineData(1 << 20, 1 << 20, 0)]
    [InlineData(1 << 20, 1024, 0)]
    [InlineData(1 << 20, 64 << 10, -1)]
    public void Settings_that_cannot_work_are_refused_naming_the_setting(long maxBytes, long segmentBytes, int days)
    {
        var error = Assert.Throws<InvalidOperationException>(() => new AuditLog(new AuditLogOptions { MaxBytes = maxBytes, SegmentBytes = segmentBytes, RetentionDays = days }, _directory));
        Assert.Contains("Agent:Audit:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Long_text_is_clipped_so_one_entry_stays_small()
    {
        var text = new string('x', 10_000);
        Assert.Equal(AuditTrail.MaxText + 1, AuditTrail.Clip(text)!.Length);
        Assert.Equal("short", AuditTrail.Clip("short"));
        Assert.Null(AuditTrail.Clip(null));
        Assert.Equal("ContainerNotFound: No such container", AuditTrail.Describe(new ComputeException(ComputeErrorCode.ContainerNotFound, "No such container")));
        Assert.True(Encoding.UTF8.GetByteCount(AuditTrail.Describe(new InvalidOperationException(text))) < 4 * AuditTrail.MaxText);
    }

    private static List<AuditEntry> Read(AuditLog log, AuditQuery query)
    {
        var all = new List<AuditEntry>();
        var page = log.Read(query with { Limit = AuditQuery.MaxLimit });
        all.AddRange(page.Entries);
        while (page.Next is { } next)
        {
            page = log.Read(query with { Limit = AuditQuery.MaxLimit, After = next });
            all.AddRange(page.Entries);
        }

        return all;
    }

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start.ToUniversalTime();

        public DateTimeOffset Start { get; } = start.ToUniversalTime();

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
