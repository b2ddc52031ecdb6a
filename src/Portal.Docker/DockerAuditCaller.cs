using Microsoft.AspNetCore.Connections.Features;
using Portal.Compute.Audit;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// Who calls the docker socket, for the audit trail: the peer's uid (SO_PEERCRED; root, or a member of the socket's
/// group). Set for all a request does, so the audited compute host records its actions as the docker entry point's.
/// </summary>
internal static class DockerAuditCaller
{
    public static Task SetAsync(HttpContext http, RequestDelegate next)
    {
        AuditCaller.Current = new AuditCaller
        {
            Actor = SocketPeer.Actor(SocketPeer.UidOf(http), AuditActorKind.DockerSocket, "the docker socket"),
            EntryPoint = AuditEntryPoint.Docker,
            Source = "unix:" + http.Features.Get<IConnectionSocketFeature>()?.Socket.LocalEndPoint,
        };
        return next(http);
    }
}
