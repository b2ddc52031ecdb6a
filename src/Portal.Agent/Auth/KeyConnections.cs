using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;

namespace Portal.Agent.Auth;

/// <summary>
/// The hub connections opened with each API key. A key's secret is checked when a connection opens; when the key is
/// rotated or revoked, its connections are aborted at once, so its streams end (exec, attach, logs, subscriptions)
/// instead of living on with a secret that no longer works.
/// </summary>
public sealed class KeyConnections
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, HubCallerContext>> _byKey = new();
    private readonly ApiKeyStore _keys;
    private readonly ILogger<KeyConnections> _logger;

    public KeyConnections(ApiKeyStore keys, ILogger<KeyConnections> logger)
    {
        _keys = keys;
        _logger = logger;
        keys.KeyInvalidated += Abort;
    }

    /// <summary>The key and the stamp of its secret a connection authenticated with; null for the local socket.</summary>
    public static (string Id, string Stamp)? KeyOf(ClaimsPrincipal? user) =>
        user?.FindFirst(ApiKeyAuthenticationHandler.KeyStampClaim)?.Value is { } stamp && user.Identity?.Name is { } id ? (id, stamp) : null;

    /// <summary>Whether the connection's key still holds (always for the local socket).</summary>
    public bool IsCurrent(HubCallerContext connection) => KeyOf(connection.User) is not { } key || _keys.IsCurrent(key.Id, key.Stamp);

    /// <summary>Tracks a new connection; false (and aborted) when its key was rotated or revoked since it authenticated.</summary>
    public bool Add(HubCallerContext connection)
    {
        if (KeyOf(connection.User) is not { } key)
        {
            return true;
        }

        _byKey.GetOrAdd(key.Id, _ => new()).TryAdd(connection.ConnectionId, connection);
        // Checked after adding: a revocation between authentication and here either sees this connection or is seen here.
        if (_keys.IsCurrent(key.Id, key.Stamp))
        {
            return true;
        }

        Remove(connection);
        connection.Abort();
        return false;
    }

    public void Remove(HubCallerContext connection)
    {
        if (KeyOf(connection.User) is { } key && _byKey.TryGetValue(key.Id, out var connections))
        {
            connections.TryRemove(connection.ConnectionId, out _);
        }
    }

    /// <summary>How many connections a key has open (for tests and diagnostics).</summary>
    public int CountOf(string keyId) => _byKey.TryGetValue(keyId, out var connections) ? connections.Count : 0;

    private void Abort(string keyId)
    {
        if (!_byKey.TryGetValue(keyId, out var connections))
        {
            return;
        }

        var closed = 0;
        foreach (var connection in connections.Values)
        {
            if (!_keys.IsCurrent(keyId, KeyOf(connection.User)?.Stamp ?? ""))
            {
                connections.TryRemove(connection.ConnectionId, out _);
                connection.Abort();
                closed++;
            }
        }

        if (closed > 0)
        {
            _logger.LogInformation("Closed {Count} hub connection(s) of API key {Id}: it was rotated or revoked", closed, keyId);
        }
    }
}
