using Microsoft.AspNetCore.Connections.Features;
using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// Who calls the docker API, for the audit trail and the team rules: on the socket the peer's uid (SO_PEERCRED; root,
/// or a member of the socket's group: the administrators); over TLS the team member its client certificate names
/// (<see cref="Tls.DockerTlsCallers"/>). Set for all a request does, so the audited compute host records its actions
/// as the docker entry point's.
/// </summary>
internal static class DockerAuditCaller
{
    public static Task SetAsync(HttpContext http, RequestDelegate next)
    {
        if (http.Connection.LocalIpAddress is not null)
        {
            // Over TCP there is only the TLS listener; without its callers nothing is let through.
            var tls = http.RequestServices.GetService<Tls.DockerTlsCallers>()
                ?? throw new DockerApiException(StatusCodes.Status403Forbidden, "permission denied: this listener has no client certificate check");
            return tls.RunAsync(http, next);
        }

        AuditCaller.Current = new AuditCaller
        {
            Actor = SocketPeer.Actor(SocketPeer.UidOf(http), AuditActorKind.DockerSocket, "the docker socket"),
            EntryPoint = AuditEntryPoint.Docker,
            Source = "unix:" + http.Features.Get<IConnectionSocketFeature>()?.Socket.LocalEndPoint,
        };
        return next(http);
    }
}
