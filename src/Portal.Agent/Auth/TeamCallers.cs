using System.Security.Claims;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>
/// The team a request acts for: a team key's own team and role, or the team and user an administrator key names on the
/// call (headers <see cref="TeamHeader"/> and <see cref="UserHeader"/>, or the hub's query parameters at connect),
/// with the role that user holds in the agent's copy of the team. Only an administrator key may name them; acting for a
/// team narrows the request's scope to the role's, so the portal acting for a Viewer cannot do more than the Viewer.
/// </summary>
public static class TeamCallers
{
    public const string TeamHeader = "X-Portal-Team";
    public const string UserHeader = "X-Portal-User";

    /// <summary>The hub's equivalents: browsers and the SignalR client cannot set headers on a websocket.</summary>
    public const string TeamQuery = "portal_team";
    public const string UserQuery = "portal_user";

    /// <summary>A refusal of the acting team: the status and what to do.</summary>
    public sealed record Refusal(int Status, string Code, string Reason);

    /// <summary>
    /// The caller with its team filled in (unchanged when it acts for none), or the refusal of what it named.
    /// </summary>
    public static (AuditCaller Caller, ClaimsPrincipal User, Refusal? Refused) Resolve(HttpContext http, AuditCaller caller, TeamStore teams)
    {
        var user = http.User;
        var (team, actingUser) = Named(http);
        if (user.FindFirst(ApiKeyAuthenticationHandler.TeamClaim)?.Value is { } keyTeam)
        {
            if (team is not null || actingUser is not null)
            {
                return (caller, user, new Refusal(403, "Forbidden", $"This key belongs to team '{keyTeam}': only an administrator key may act for a team and user ({TeamHeader}, {UserHeader})."));
            }

            if (teams.Find(keyTeam) is null)
            {
                return (caller, user, new Refusal(403, "Forbidden", $"This key's team '{keyTeam}' no longer exists on this agent; an administrator pushes the team again or issues another key."));
            }

            var keyRole = Enum.Parse<TeamRole>(user.FindFirst(ApiKeyAuthenticationHandler.RoleClaim)!.Value);
            return (caller with { Team = keyTeam, Role = keyRole }, user, null);
        }

        if (team is null && actingUser is null)
        {
            return (caller, user, null);
        }

        if (AgentPolicies.ScopeOf(user) != ApiScope.Admin)
        {
            return (caller, user, new Refusal(403, "Forbidden", $"Only an administrator key may act for a team and user ({TeamHeader}, {UserHeader}); this key's scope is {AgentPolicies.ScopeOf(user)?.ToString() ?? "none"}."));
        }

        if (string.IsNullOrWhiteSpace(team) || string.IsNullOrWhiteSpace(actingUser))
        {
            return (caller, user, new Refusal(400, "InvalidArgument", $"Name both the team and the user to act for ({TeamHeader} and {UserHeader}), or neither."));
        }

        if (teams.Find(team) is null)
        {
            return (caller, user, new Refusal(400, "InvalidArgument", $"No team '{team}' on this agent: push it first (PUT /api/teams/{{name}})."));
        }

        if (teams.RoleOf(team, actingUser) is not { } role)
        {
            return (caller, user, new Refusal(403, "Forbidden", $"User '{actingUser}' is not a member of team '{team}' on this agent."));
        }

        return (caller with { Team = team, User = actingUser, Role = role }, Narrow(user, team, role), null);
    }

    /// <summary>The principal with the scope of the role it acts as (never more than the key's).</summary>
    private static ClaimsPrincipal Narrow(ClaimsPrincipal user, string team, TeamRole role)
    {
        var claims = user.Claims.Where(c => c.Type != ApiKeyAuthenticationHandler.ScopeClaim).ToList();
        claims.Add(new Claim(ApiKeyAuthenticationHandler.ScopeClaim, ApiKeyStore.ScopeOf(role).ToString()));
        claims.Add(new Claim(ApiKeyAuthenticationHandler.TeamClaim, team));
        claims.Add(new Claim(ApiKeyAuthenticationHandler.RoleClaim, role.ToString()));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, ApiKeyAuthenticationHandler.SchemeName));
    }

    private static (string? Team, string? User) Named(HttpContext http)
    {
        static string? Value(Microsoft.Extensions.Primitives.StringValues v) => v.Count == 0 ? null : v.ToString();
        var team = Value(http.Request.Headers[TeamHeader]);
        var user = Value(http.Request.Headers[UserHeader]);
        if (http.Request.Path.StartsWithSegments("/hubs"))
        {
            team ??= Value(http.Request.Query[TeamQuery]);
            user ??= Value(http.Request.Query[UserQuery]);
        }

        return (team, user);
    }
}
