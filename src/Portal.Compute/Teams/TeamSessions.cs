using System.Collections.Concurrent;
using Portal.Compute.Audit;

namespace Portal.Compute.Teams;

/// <summary>
/// What runs now for team callers: hub connections (their websocket request), followed logs, waits, attached runs and
/// exec sessions. Each was admitted with the team, and the user's role in it, that the agent held when it began; when
/// the team is removed, or the user leaves it or gets another role, everything admitted under the old membership is
/// ended at once (the caller connects again, and gets what it is now), as a rotated key's connections are. A team
/// key's own role is the key's: only its team's removal ends its sessions.
/// </summary>
public sealed class TeamSessions : IDisposable
{
    private readonly TeamStore _teams;
    private readonly ConcurrentDictionary<Session, byte> _sessions = new();

    public TeamSessions(TeamStore teams)
    {
        _teams = teams;
        teams.Changed += Recheck;
    }

    /// <summary>Whether the agent's teams still admit the caller as it was admitted (always for callers without a team).</summary>
    public static bool Holds(TeamStore teams, AuditCaller caller)
    {
        ArgumentNullException.ThrowIfNull(teams);
        ArgumentNullException.ThrowIfNull(caller);
        return caller.Team is not { } team
            || (caller.User is { } user ? teams.RoleOf(team, user) is { } role && role == caller.Role : teams.Find(team) is not null);
    }

    /// <summary>
    /// Tracks what runs for <paramref name="caller"/> until the returned handle is disposed, ending it with
    /// <paramref name="abort"/> when its membership changes (at once when it changed since the caller was admitted).
    /// </summary>
    public IDisposable Track(AuditCaller? caller, Action abort)
    {
        ArgumentNullException.ThrowIfNull(abort);
        if (caller?.Team is null)
        {
            return NoSession.Instance;
        }

        var session = new Session(this, caller, abort);
        _sessions[session] = 0;
        // Checked after adding: a change between the caller's admission and here is either seen here or by Recheck.
        if (!Holds(_teams, caller))
        {
            session.End();
        }

        return session;
    }

    public void Dispose() => _teams.Changed -= Recheck;

    private void Recheck()
    {
        foreach (var session in _sessions.Keys)
        {
            if (!Holds(_teams, session.Caller))
            {
                session.End();
            }
        }
    }

    private sealed class Session(TeamSessions owner, AuditCaller caller, Action abort) : IDisposable
    {
        public AuditCaller Caller => caller;

        public void End()
        {
            if (owner._sessions.TryRemove(this, out _))
            {
                abort();
            }
        }

        public void Dispose() => owner._sessions.TryRemove(this, out _);
    }

    private sealed class NoSession : IDisposable
    {
        public static readonly NoSession Instance = new();

        public void Dispose()
        {
        }
    }
}
