using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Portal.Client;
using Portal.Contracts;

namespace Portal.Web.Audit;

/// <summary>
/// The portal's own audit trail (sign-ins, sign-outs, password changes, users created and disabled): append-only JSON
/// Lines, one file per UTC day (<c>portal-audit-2026-12-03.jsonl</c>) in <see cref="Directory"/>, numbered without gaps
/// like an agent's trail. Retention drops whole days older than <see cref="PortalAuditOptions.AuditRetentionDays"/>.
/// A file rather than a table: an append-only trail needs no queries a day's file cannot answer, and it stays apart from
/// the schema (and the migrations) of users and teams.
/// </summary>
public sealed class PortalAuditLog
{
    private const string Prefix = "portal-audit-";
    private const string Suffix = ".jsonl";
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _retentionDays;
    private long _sequence;
    private DateOnly _prunedOn;

    public PortalAuditLog(IOptions<PortalAuditOptions> options, IOptions<PortalOptions> portal, TimeProvider time, ILogger<PortalAuditLog> logger)
    {
        options.Value.Validate();
        Directory = options.Value.DirectoryFor(portal.Value);
        _retentionDays = options.Value.AuditRetentionDays;
        _time = time;
        _logger = logger;
        if (!OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            System.IO.Directory.CreateDirectory(Directory);
        }

        _sequence = Files().Select(f => LastSequenceOf(f.Path)).FirstOrDefault(s => s > 0);
        Prune(Today());
    }

    public string Directory { get; }

    /// <summary>The newest sequence written.</summary>
    public long LastSequence => Interlocked.Read(ref _sequence);

    /// <summary>Raised (on the recording thread) after an entry is written.</summary>
    public event Action<AuditEntry>? Recorded;

    /// <summary>Writes <paramref name="entry"/> with the next sequence and the time now (UTC); returns it as written.</summary>
    public AuditEntry Record(AuditEntry entry)
    {
        AuditEntry written;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            written = entry with { Sequence = _sequence + 1, Time = now };
            var today = DateOnly.FromDateTime(now.UtcDateTime);
            File.AppendAllText(PathOf(today), JsonSerializer.Serialize(written, AgentTransport.Json) + "\n", Utf8);
            _sequence = written.Sequence;
            if (today != _prunedOn)
            {
                Prune(today);
            }
        }

        try
        {
            Recorded?.Invoke(written);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A listener of the portal's audit trail failed");
        }

        return written;
    }

    /// <summary>The newest <paramref name="limit"/> entries matching <paramref name="search"/>, newest first, and whether more matched.</summary>
    public (IReadOnlyList<AuditEntry> Entries, bool Truncated) Read(AuditSearch search, int limit)
    {
        var found = new List<AuditEntry>();
        var sinceDay = search.Since is { } since ? DateOnly.FromDateTime(since.UtcDateTime) : DateOnly.MinValue;
        var untilDay = search.Until is { } until ? DateOnly.FromDateTime(until.UtcDateTime) : DateOnly.MaxValue;
        foreach (var (day, path) in Files())
        {
            if (day > untilDay)
            {
                continue;
            }

            if (day < sinceDay || found.Count > limit)
            {
                break;
            }

            var ofDay = ReadFile(path).Where(e => search.Matches(AuditRow.Portal(e))).ToList();
            ofDay.Reverse();
            found.AddRange(ofDay);
        }

        return (found.Count > limit ? found.GetRange(0, limit) : found, found.Count > limit);
    }

    /// <summary>The day files, newest first.</summary>
    private List<(DateOnly Day, string Path)> Files()
    {
        var files = new List<(DateOnly, string)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Suffix))
        {
            var name = Path.GetFileName(path);
            if (DateOnly.TryParseExact(name[Prefix.Length..^Suffix.Length], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            {
                files.Add((day, path));
            }
        }

        return [.. files.OrderByDescending(f => f.Item1)];
    }

    private string PathOf(DateOnly day) => Path.Combine(Directory, Prefix + day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + Suffix);

    private DateOnly Today() => DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);

    private void Prune(DateOnly today)
    {
        _prunedOn = today;
        if (_retentionDays == 0)
        {
            return;
        }

        var oldest = today.AddDays(-_retentionDays);
        foreach (var (day, path) in Files().Where(f => f.Day < oldest))
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException e)
            {
                _logger.LogWarning("Could not drop the expired audit file {Path}: {Error}", path, e.Message);
            }
        }
    }

    /// <summary>The file's entries; a line that does not parse (a write cut short by a crash) is skipped.</summary>
    private List<AuditEntry> ReadFile(string path)
    {
        var entries = new List<AuditEntry>();
        IEnumerable<string> lines;
        lock (_lock)
        {
            lines = File.ReadAllLines(path, Utf8);
        }

        foreach (var line in lines)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                if (JsonSerializer.Deserialize<AuditEntry>(line, AgentTransport.Json) is { } entry)
                {
                    entries.Add(entry);
                }
            }
            catch (JsonException e)
            {
                _logger.LogWarning("Skipped a damaged line of {Path}: {Error}", path, e.Message);
            }
        }

        return entries;
    }

    private long LastSequenceOf(string path) => ReadFile(path).Select(e => e.Sequence).DefaultIfEmpty(0).Max();
}
