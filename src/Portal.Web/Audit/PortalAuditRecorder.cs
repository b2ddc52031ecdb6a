using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Portal.Contracts;
using Portal.Web.Data;

namespace Portal.Web.Audit;

/// <summary>
/// Makes the portal's own audit entries (entry point Portal, target the user account) and finds who acted: the
/// request's signed-in user, else the circuit's, else the portal itself (its command line or first start).
/// </summary>
public sealed class PortalAuditRecorder(PortalAuditLog log, IHttpContextAccessor http, IServiceProvider services)
{
    /// <summary>The actor of work done on the portal's host, outside any request: `deploy/portal reset-password`, the first start.</summary>
    public static readonly AuditActor Host = new() { Kind = AuditActorKind.Agent, Name = "portal (its host's command line or first start)" };

    public AuditEntry Record(string action, PortalUser? target, string? targetName, AuditActor actor, string? user,
        AuditDecision decision = AuditDecision.Allowed, AuditResult result = AuditResult.Ok, string? rule = null, string? reason = null, string? error = null,
        IReadOnlyDictionary<string, string>? details = null) =>
        log.Record(new AuditEntry
        {
            Actor = actor,
            User = user,
            EntryPoint = AuditEntryPoint.Portal,
            Source = Source(),
            Action = action,
            Target = new AuditTarget { Host = AuditRow.PortalSource, Type = "user", Id = target?.Id, Name = target?.UserName ?? targetName },
            Decision = decision,
            Rule = rule,
            Reason = reason,
            Result = result,
            Error = error,
            Details = details,
        });

    /// <summary>The caller's address as "ip:port", or null outside a request (a circuit's later events, the command line).</summary>
    public string? Source() => http.HttpContext?.Connection is { RemoteIpAddress: { } ip } connection
        ? $"{(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip)}:{connection.RemotePort}"
        : null;

    public static AuditActor UserActor(string name) => new() { Kind = AuditActorKind.PortalUser, Name = name };

    /// <summary>Who is acting now: the signed-in user of the request or circuit, else the portal's host.</summary>
    public async Task<(AuditActor Actor, string? User)> ActorAsync()
    {
        var principal = http.HttpContext?.User;
        if (principal?.Identity?.IsAuthenticated != true && services.GetService<AuthenticationStateProvider>() is { } circuit)
        {
            try
            {
                principal = (await circuit.GetAuthenticationStateAsync()).User;
            }
            catch (InvalidOperationException)
            {
                // Not in a circuit (a request before sign-in, the command line): there is no circuit user.
            }
        }

        if (principal?.Identity is { IsAuthenticated: true, Name: { } name })
        {
            return (UserActor(name), name);
        }

        return http.HttpContext is null
            ? (Host, null)
            : (new AuditActor { Kind = AuditActorKind.Anonymous, Name = "anonymous" }, null);
    }

    public static string? NameOf(ClaimsPrincipal? principal) => principal?.Identity is { IsAuthenticated: true, Name: { } name } ? name : null;
}
