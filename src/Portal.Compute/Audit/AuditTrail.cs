using Microsoft.Extensions.Logging;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>
/// Records audit entries for one host: fills in who (the caller, else <see cref="AuditCaller.Current"/>), the host of the
/// target and the outcome, clips long text, and appends to the <see cref="AuditLog"/>. A record that cannot be written is
/// logged as an error and never changes the answer of an action that already happened (a retried create would make another).
/// </summary>
public sealed class AuditTrail(AuditLog log, string host, ILogger<AuditTrail> logger)
{
    /// <summary>Names, references and error messages are cut at this many characters.</summary>
    public const int MaxText = 1024;

    private static readonly AsyncLocal<AuditWarning?> Warning = new();

    public AuditLog Log => log;

    public string Host => host;

    public AuditTarget Target(string type, string? id, string? name) => new() { Host = host, Type = type, Id = Clip(id), Name = Clip(name) };

    /// <summary>Records an action that ran: Ok without <paramref name="error"/>, else Failed with it.</summary>
    public AuditEntry? Record(string action, AuditTarget? target, Exception? error = null, AuditCaller? caller = null,
        RuntimeType? requested = null, RuntimeType? effective = null, IReadOnlyDictionary<string, string>? details = null) =>
        Append(caller, new Draft(action, target)
        {
            Result = error is null ? AuditResult.Ok : AuditResult.Failed,
            Error = error is null ? null : Describe(error),
            Requested = requested,
            Effective = effective,
            Details = details,
        });

    /// <summary>Runs <paramref name="run"/> and records it with the target known after it (or before it, when it failed).</summary>
    public async Task<T> RecordAsync<T>(string action, AuditTarget before, Func<Task<T>> run, Func<T, AuditTarget>? after = null,
        RuntimeType? requested = null, Func<T, RuntimeType?>? effective = null, IReadOnlyDictionary<string, string>? details = null)
    {
        var caller = AuditCaller.Current;
        T result;
        try
        {
            result = await run().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Record(action, before, e, caller, requested, details: details);
            throw;
        }

        Record(action, after?.Invoke(result) ?? before, null, caller, requested, effective?.Invoke(result), details);
        return result;
    }

    public Task RecordAsync(string action, AuditTarget before, Func<Task> run, IReadOnlyDictionary<string, string>? details = null) =>
        RecordAsync(action, before, async () =>
        {
            await run().ConfigureAwait(false);
            return true;
        }, details: details);

    /// <summary>Records an action a rule refused: it did not run.</summary>
    public AuditEntry? Deny(string action, AuditTarget? target, string rule, string reason, AuditCaller? caller = null, IReadOnlyDictionary<string, string>? details = null,
        RuntimeType? requested = null, RuntimeType? effective = null) =>
        Append(caller, new Draft(action, target)
        {
            Requested = requested,
            Effective = effective,
            Decision = AuditDecision.Denied,
            Rule = rule,
            Reason = Clip(reason),
            Result = AuditResult.NotRun,
            Details = details,
        });

    /// <summary>
    /// Until disposed, the actions this flow records (as allowed) are recorded as Warned by <paramref name="rule"/>: a
    /// policy let them run with a warning (a team's isolation policy in Warn or Audit mode), decided above the layer
    /// that records them.
    /// </summary>
    public static IDisposable Warned(string rule, string reason)
    {
        var outer = Warning.Value;
        Warning.Value = new AuditWarning(rule, Clip(reason)!);
        return new Restore(() => Warning.Value = outer);
    }

    /// <summary>"Code: message" of a failure, as the caller saw it.</summary>
    public static string Describe(Exception error) => Clip(error switch
    {
        ComputeException e => $"{e.Code}: {e.Message}",
        OperationCanceledException => "Cancelled: the caller went away or gave up before it ended.",
        _ => $"{error.GetType().Name}: {error.Message}",
    })!;

    public static string? Clip(string? text) => text is null || text.Length <= MaxText ? text : text[..MaxText] + "…";

    private AuditEntry? Append(AuditCaller? caller, Draft draft)
    {
        var who = caller ?? AuditCaller.Current ?? AuditCaller.Unknown;
        if (draft.Decision == AuditDecision.Allowed && Warning.Value is { } warning)
        {
            draft = draft with { Decision = AuditDecision.Warned, Rule = warning.Rule, Reason = warning.Reason };
        }

        try
        {
            return log.Append(new AuditEntry
            {
                Actor = who.Actor,
                Team = who.Team,
                User = who.User,
                EntryPoint = who.EntryPoint,
                Source = who.Source,
                Action = draft.Action,
                Target = draft.Target,
                RequestedIsolation = draft.Requested,
                EffectiveIsolation = draft.Effective,
                Decision = draft.Decision,
                Rule = draft.Rule,
                Reason = draft.Reason,
                Result = draft.Result,
                Error = draft.Error,
                Details = draft.Details,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            logger.LogError(e, "Could not record {Action} by {Actor} in the audit trail", draft.Action, who.Actor.Name);
            return null;
        }
    }

    private sealed record AuditWarning(string Rule, string Reason);

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }

    private sealed record Draft(string Action, AuditTarget? Target)
    {
        public AuditDecision Decision { get; init; } = AuditDecision.Allowed;
        public string? Rule { get; init; }
        public string? Reason { get; init; }
        public AuditResult Result { get; init; }
        public string? Error { get; init; }
        public RuntimeType? Requested { get; init; }
        public RuntimeType? Effective { get; init; }
        public IReadOnlyDictionary<string, string>? Details { get; init; }
    }
}
