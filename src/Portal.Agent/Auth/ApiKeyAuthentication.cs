using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Portal.Agent.Audit;
using Portal.Compute.Audit;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>
/// Authenticates every caller: an API key (Authorization: Bearer, X-Api-Key, or access_token for the hub's websocket),
/// or, on the local unix socket, the socket's ownership itself (as dockerd does): such callers are admins.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys, AuditTrail audit)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "scope";

    /// <summary>Which secret of the key authenticated the caller (<see cref="ApiKeyStore.StampOf"/>); absent on the local socket.</summary>
    public const string KeyStampClaim = "key-stamp";

    /// <summary>The key's name, for the audit trail.</summary>
    public const string KeyNameClaim = "key-name";

    /// <summary>A team key's team and role; absent on global keys.</summary>
    public const string TeamClaim = "team";

    public const string RoleClaim = "team-role";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Context.Connection.LocalIpAddress is null)
        {
            return Task.FromResult(Success("local-socket", "local socket", ApiScope.Admin, stamp: null));
        }

        var token = TokenOf(Request);
        if (token is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        return Task.FromResult(keys.Validate(token) is { } key
            ? Success(key.Id, key.Name, key.Scope, ApiKeyStore.StampOf(key), key.Team, key.Role)
            : AuthenticateResult.Fail("The API key is unknown, revoked or malformed."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        RecordFailedSignIn();
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Response.WriteAsJsonAsync(ApiErrors.Problem(401, "Unauthorized", "Send an API key: 'Authorization: Bearer pk_...'. At its first start the agent wrote an admin key to <StateRoot>/agent/first-admin-key (root only); admins create more under /api/keys."), (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await Response.WriteAsJsonAsync(ApiErrors.Problem(403, "Forbidden", "This API key's scope does not allow this; it needs a key with a wider scope (Read < Operate < Admin)."), (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }

    /// <summary>A request refused for want of a valid key, once, with the key id it claimed (never its secret).</summary>
    private void RecordFailedSignIn()
    {
        var token = TokenOf(Request);
        var claimed = token is null ? null : ApiKeyStore.ClaimedId(token);
        var reason = token is null ? "No API key was sent."
            : claimed is null ? "The API key is malformed (pk_<id>_<secret> expected)."
            : $"API key {claimed} is unknown or revoked, or the secret is not its current one.";
        var caller = AuditCallers.From(Context) with
        {
            Actor = new AuditActor { Kind = AuditActorKind.Anonymous, KeyId = claimed, Name = claimed is null ? "anonymous" : $"anonymous (claimed key {claimed})" },
        };
        audit.Deny(AuditActions.SignIn, audit.Target("agent", null, null), "authentication", reason, caller,
            new Dictionary<string, string>(StringComparer.Ordinal) { ["method"] = Request.Method, ["path"] = AuditTrail.Clip(Request.Path.Value) ?? "" });
    }

    private AuthenticateResult Success(string keyId, string keyName, ApiScope scope, string? stamp, string? team = null, TeamRole? role = null)
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, keyId), new Claim(KeyNameClaim, keyName), new Claim(ScopeClaim, scope.ToString())], SchemeName);
        if (team is not null && role is not null)
        {
            identity.AddClaim(new Claim(TeamClaim, team));
            identity.AddClaim(new Claim(RoleClaim, role.Value.ToString()));
        }

        if (stamp is not null)
        {
            identity.AddClaim(new Claim(KeyStampClaim, stamp));
        }

        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    private static string? TokenOf(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        if (request.Headers.TryGetValue("X-Api-Key", out var apiKey))
        {
            return apiKey.ToString();
        }

        // Browsers and the SignalR client cannot set headers on a websocket: the hub takes the key from the query.
        return request.Path.StartsWithSegments("/hubs") ? request.Query["access_token"].FirstOrDefault() : null;
    }
}

/// <summary>Read &lt; Operate &lt; Admin: each policy admits its scope and the wider ones.</summary>
public static class AgentPolicies
{
    public const string Read = "read";
    public const string Operate = "operate";
    public const string Admin = "admin";

    public static void AddAgentPolicies(this AuthorizationOptions options)
    {
        // ScopeAuthorization decides each and records refusals in the audit trail.
        options.AddPolicy(Read, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(ApiScope.Read)));
        options.AddPolicy(Operate, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(ApiScope.Operate)));
        options.AddPolicy(Admin, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(ApiScope.Admin)));
        options.DefaultPolicy = options.GetPolicy(Read)!;
        options.FallbackPolicy = options.GetPolicy(Read)!;
    }

    /// <summary>The caller's scope; null when it has none (not authenticated).</summary>
    public static ApiScope? ScopeOf(ClaimsPrincipal user) =>
        Enum.TryParse<ApiScope>(user.FindFirst(ApiKeyAuthenticationHandler.ScopeClaim)?.Value, out var scope) ? scope : null;
}
