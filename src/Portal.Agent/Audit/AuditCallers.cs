using Microsoft.Extensions.Options;
using Portal.Agent.Auth;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Agent.Audit;

/// <summary>
/// Who a request of the agent's own listeners comes from, for the audit trail: the API key (id and name) over TCP, the
/// peer's uid on the local socket; REST or hub, or the PowerShell module or the portal when their User-Agent says so.
/// <see cref="UseAuditCaller"/> sets it for everything a request does, so the audited compute host records it.
/// </summary>
public static class AuditCallers
{
    /// <summary>The PowerShell module's User-Agent product (Portal.Client sends it when the module makes the client).</summary>
    public const string PowerShellProduct = "Portal.PowerShell";

    /// <summary>The portal's User-Agent product.</summary>
    public const string PortalProduct = "Portal.Web";

    public static AuditCaller From(HttpContext http)
    {
        var entryPoint = EntryPointOf(http.Request.Headers.UserAgent.ToString(), http.Request.Path.StartsWithSegments("/hubs"));
        if (http.Connection.LocalIpAddress is null)
        {
            var socket = http.RequestServices.GetService<IOptions<AgentOptions>>()?.Value.Socket;
            return new AuditCaller
            {
                Actor = SocketPeer.Actor(SocketPeer.UidOf(http), AuditActorKind.LocalSocket, "the agent socket"),
                EntryPoint = entryPoint,
                Source = "unix:" + socket,
            };
        }

        return new AuditCaller { Actor = ActorOf(http.User), EntryPoint = entryPoint, Source = SourceOf(http) };
    }

    /// <summary>An API key's actor ("key ci (1a2b3c4d)"); anonymous when the caller did not authenticate.</summary>
    public static AuditActor ActorOf(System.Security.Claims.ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true || user.Identity.Name is not { } id)
        {
            return new AuditActor { Kind = AuditActorKind.Anonymous, Name = "anonymous" };
        }

        var name = user.FindFirst(ApiKeyAuthenticationHandler.KeyNameClaim)?.Value;
        return new AuditActor { Kind = AuditActorKind.ApiKey, KeyId = id, KeyName = name, Name = $"key {name} ({id})" };
    }

    public static string? SourceOf(HttpContext http) => http.Connection.RemoteIpAddress is { } ip
        ? new System.Net.IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, http.Connection.RemotePort).ToString()
        : null;

    /// <summary>The PowerShell module and the portal name themselves in the User-Agent; anything else is REST or hub by path.</summary>
    public static AuditEntryPoint EntryPointOf(string? userAgent, bool hub) =>
        userAgent?.Contains(PowerShellProduct + "/", StringComparison.Ordinal) == true ? AuditEntryPoint.PowerShell
        : userAgent?.Contains(PortalProduct + "/", StringComparison.Ordinal) == true ? AuditEntryPoint.Portal
        : hub ? AuditEntryPoint.Hub : AuditEntryPoint.Rest;

    /// <summary>After authentication: the caller of everything this request does (hub invocations run inside their connection's request).</summary>
    /// <remarks>
    /// The acting team (<see cref="TeamCallers"/>) is resolved here too: a request whose team or user cannot be honoured is
    /// refused before anything runs, and recorded.
    /// </remarks>
    public static IApplicationBuilder UseAuditCaller(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var (caller, user, refused) = TeamCallers.Resolve(context, From(context), context.RequestServices.GetRequiredService<TeamStore>());
        if (refused is not null)
        {
            if (context.User.Identity?.IsAuthenticated == true)
            {
                var audit = context.RequestServices.GetRequiredService<AuditTrail>();
                audit.Deny(AuditActions.ActFor, audit.Target("agent", null, null), "team-caller", refused.Reason, caller,
                    new Dictionary<string, string>(StringComparer.Ordinal) { ["method"] = context.Request.Method, ["path"] = AuditTrail.Clip(context.Request.Path.Value) ?? "" });
            }

            context.Response.StatusCode = refused.Status;
            await context.Response.WriteAsJsonAsync(ApiErrors.Problem(refused.Status, refused.Code, refused.Reason), (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json").ConfigureAwait(false);
            return;
        }

        context.User = user;
        AuditCaller.Current = caller;
        await next(context).ConfigureAwait(false);
    });
}
