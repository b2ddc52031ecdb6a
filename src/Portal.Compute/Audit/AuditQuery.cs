using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>
/// Which audit entries to read: each filter set narrows the result. Text filters match without regard to case:
/// <see cref="Actor"/> the actor's name, key id or key name (a part of it); <see cref="Action"/> the whole action
/// ("container.create") or either half ("container", "create"); <see cref="Target"/> the target's name or a prefix of its id.
/// </summary>
public sealed record AuditQuery
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>Entries with a larger sequence only (incremental collection); 0 from the start.</summary>
    public long After { get; init; }

    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }

    public string? Actor { get; init; }

    public string? Action { get; init; }

    public string? Target { get; init; }

    public AuditDecision? Decision { get; init; }

    public AuditEntryPoint? EntryPoint { get; init; }

    public int Limit { get; init; } = DefaultLimit;

    public bool Matches(AuditEntry e) =>
        e.Sequence > After
        && (Since is not { } since || e.Time >= since)
        && (Until is not { } until || e.Time <= until)
        && (Decision is not { } decision || e.Decision == decision)
        && (EntryPoint is not { } entryPoint || e.EntryPoint == entryPoint)
        && (string.IsNullOrEmpty(Actor) || Contains(e.Actor.Name, Actor) || Contains(e.Actor.KeyId, Actor) || Contains(e.Actor.KeyName, Actor))
        && (string.IsNullOrEmpty(Action) || AuditEntry.MatchesAction(e.Action, Action))
        && (string.IsNullOrEmpty(Target) || (e.Target is { } t && (string.Equals(t.Name, Target, StringComparison.OrdinalIgnoreCase)
            || (t.Id is { } id && id.StartsWith(Target, StringComparison.OrdinalIgnoreCase)))));

    private static bool Contains(string? value, string part) => value?.Contains(part, StringComparison.OrdinalIgnoreCase) == true;
}
