using System.Collections.Concurrent;
using System.Security.Claims;
using Portal.Compute.Audit;
using Portal.Compute.Teams;

namespace Portal.Agent.Auth;

/// <summary>
/// What runs on each API key: its hub connections and its HTTP requests in progress (a followed log, a wait). A key's
/// secret is checked when each starts; when the key is rotated or revoked, everything opened with the old secret is
/// aborted at once, so its streams end (exec, attach, logs, subscriptions) instead of living on with a secret that no
/// longer works.
/// </summary>
public sealed class KeyConnections
{
    /// <summary>The request this code runs for: the one rotating or revoking its own key finishes, to hand back the new secret.</summary>
    private static readonly AsyncLocal<string?> Running = new();
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, Session>> _byKey = new();
    private readonly ApiKeyStore _keys;
    private readonly ILogger<KeyConnections> _logger;

    private sealed record Session(string Stamp, Action Abort);

    public KeyConnections(ApiKeyStore keys, ILogger<KeyConnections> logger)
    {
        _keys = keys;
        _logger = logger;
        keys.KeyInvalidated += Abort;
    }

    /// <summary>The key and the stamp of its secret a caller authenticated with; null for the local socket.</summary>
    public static (string Id, string Stamp)? KeyOf(ClaimsPrincipal? user) =>
        user?.FindFirst(ApiKeyAuthenticationHandler.KeyStampClaim)?.Value is { } stamp && user.Identity?.Name is { } id ? (id, stamp) : null;

    /// <summary>Whether the caller's key still holds (always for the local socket).</summary>
    public bool IsCurrent(ClaimsPrincipal? user) => KeyOf(user) is not { } key || _keys.IsCurrent(key.Id, key.Stamp);

    /// <summary>
    /// Tracks a connection or request <paramref name="id"/> of <paramref name="user"/>'s key, to be aborted with
    /// <paramref name="abort"/> when the key changes; false (and aborted) when it changed since the caller authenticated.
    /// </summary>
    public bool Add(ClaimsPrincipal? user, string id, Action abort)
    {
        if (KeyOf(user) is not { } key)
        {
            return true;
        }

        _byKey.GetOrAdd(key.Id, _ => new()).TryAdd(id, new Session(key.Stamp, abort));
        // Checked after adding: a revocation between authentication and here either sees this session or is seen here.
        if (_keys.IsCurrent(key.Id, key.Stamp))
        {
            return true;
        }

        Remove(user, id);
        abort();
        return false;
    }

    /// <summary>Marks the code that follows (this async flow) as running for request <paramref name="id"/>.</summary>
    public static void RunningFor(string id) => Running.Value = id;

    public void Remove(ClaimsPrincipal? user, string id)
    {
        if (KeyOf(user) is { } key && _byKey.TryGetValue(key.Id, out var sessions))
        {
            sessions.TryRemove(id, out _);
        }
    }

    private void Abort(string keyId)
    {
        if (!_byKey.TryGetValue(keyId, out var sessions))
        {
            return;
        }

        var closed = 0;
        foreach (var (id, session) in sessions)
        {
            if (id != Running.Value && !_keys.IsCurrent(keyId, session.Stamp) && sessions.TryRemove(id, out _))
            {
                session.Abort();
                closed++;
            }
        }

        if (closed > 0)
        {
            _logger.LogInformation("Closed {Count} connection(s) and request(s) of API key {Id}: it was rotated or revoked", closed, keyId);
        }
    }
}

/// <summary>
/// HTTP requests in progress (a followed log, a wait, the hub's own websocket) end when their key is rotated or revoked,
/// and, for a team caller, when its team is removed or its user leaves the team or gets another role
/// (<see cref="TeamSessions"/>; runs after <see cref="Audit.AuditCallers.UseAuditCaller"/>, which admitted the caller).
/// </summary>
public static class KeyRequestTracking
{
    public static IApplicationBuilder UseKeyRequestTracking(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var connections = context.RequestServices.GetRequiredService<KeyConnections>();
        var id = "http:" + context.TraceIdentifier;
        if (!connections.Add(context.User, id, context.Abort))
        {
            return;
        }

        KeyConnections.RunningFor(id);
        using var teamSession = context.RequestServices.GetRequiredService<TeamSessions>().Track(AuditCaller.Current, context.Abort);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            connections.Remove(context.User, id);
        }
    });
}
