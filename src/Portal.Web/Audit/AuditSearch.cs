using System.Globalization;
using Portal.Client;
using Portal.Contracts;

namespace Portal.Web.Audit;

/// <summary>
/// The Audit page's filters. Text matches without regard to case: <see cref="User"/> a part of the user an entry was
/// made for or of its actor's name; <see cref="Team"/> the acting team; <see cref="Host"/> the host's portal name (or
/// "portal"); <see cref="Action"/> the whole action ("container.create") or either half ("container", "create"), as
/// the agents match it. Times are UTC and inclusive.
/// </summary>
public sealed record AuditSearch
{
    public static readonly AuditSearch All = new();

    public string? User { get; init; }

    public string? Team { get; init; }

    public string? Host { get; init; }

    public string? Action { get; init; }

    public AuditDecision? Decision { get; init; }

    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }

    /// <summary>What the agents can filter themselves; user and team are matched here (an agent's actor filter knows no user).</summary>
    public AgentAuditFilter ToAgentFilter() => new()
    {
        Since = Since,
        Until = Until,
        Action = Blank(Action),
        Decision = Decision,
    };

    /// <summary>Whether the search covers entries recorded at <paramref name="host"/> (a host's portal name, or "portal").</summary>
    public bool Covers(string host) => Blank(Host) is not { } wanted || string.Equals(wanted, host, StringComparison.OrdinalIgnoreCase);

    public bool Matches(AuditRow row)
    {
        var e = row.Entry;
        return Covers(row.Host)
            && (Since is not { } since || e.Time >= since)
            && (Until is not { } until || e.Time <= until)
            && (Decision is not { } decision || e.Decision == decision)
            && (Blank(User) is not { } user || Contains(e.User, user) || Contains(e.Actor.Name, user))
            && (Blank(Team) is not { } team || string.Equals(e.Team, team, StringComparison.OrdinalIgnoreCase))
            && (Blank(Action) is not { } action || AuditEntry.MatchesAction(e.Action, action));
    }

    /// <summary>A refusal that says what to fix, or null when the search is valid.</summary>
    public string? Problem() => Since is { } from && Until is { } to && to < from
        ? $"'Until' ({Format(to)}) is before 'Since' ({Format(from)}): swap them."
        : null;

    /// <summary>
    /// Parses a UTC time typed into a filter: "2026-12-03 14:00", "2026-12-03T14:00:00Z", "2026-12-03"; empty is no bound.
    /// Throws a FormatException that shows the forms it takes.
    /// </summary>
    public static DateTimeOffset? ParseTime(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }

        throw new FormatException($"'{text.Trim()}' in '{field}' is not a time: write it in UTC as 2026-12-03 14:00 (or 2026-12-03).");
    }

    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static bool Contains(string? value, string part) => value?.Contains(part, StringComparison.OrdinalIgnoreCase) == true;
}
