using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Docker.Tls;

/// <summary>
/// Who calls the docker API over mutual TLS: the client certificate (already chained to the agent's CA at the
/// handshake) names a certificate this agent issued; its team and user come from that record and the role from the
/// agent's team store, on every request, so a revocation, a role change or a removal from the team counts at once.
/// The request then runs as that team caller, and <see cref="TeamScopedComputeHost"/> applies the team's rules.
/// </summary>
internal sealed class DockerTlsCallers(DockerCertificateAuthority authority, TeamStore teams, AuditTrail audit, TimeProvider clock)
{
    public const string Rule = "docker-certificate";

    /// <summary>The caller for this request, or a 403 in dockerd's shape saying why the certificate is refused (recorded).</summary>
    public AuditCaller Resolve(HttpContext http)
    {
        var source = Source(http);
        var certificate = http.Connection.ClientCertificate;
        if (certificate is null)
        {
            throw Refuse(http, Anonymous(source), "this listener needs a client certificate issued by the agent (docker --tlsverify --tlscert cert.pem --tlskey key.pem)");
        }

        var record = authority.Certificates.Find(certificate.SerialNumber);
        var thumbprint = certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);
        if (record is null || !string.Equals(record.Thumbprint, thumbprint, StringComparison.OrdinalIgnoreCase))
        {
            throw Refuse(http, Anonymous(source) with { Actor = Actor(certificate.SerialNumber, certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false)) },
                $"certificate {certificate.SerialNumber} was not issued by this agent; ask an administrator for one (POST /api/teams/{{team}}/certificates)");
        }

        var caller = new AuditCaller { Actor = Actor(record.Serial, record.User), EntryPoint = AuditEntryPoint.DockerTls, Source = source, Team = record.Team, User = record.User };
        if (record.RevokedAt is { } revoked)
        {
            throw Refuse(http, caller, $"certificate {record.Serial} of user '{record.User}' (team '{record.Team}') was revoked at {revoked:u}; ask an administrator for a new one");
        }

        if (record.NotAfter <= clock.GetUtcNow())
        {
            throw Refuse(http, caller, $"certificate {record.Serial} of user '{record.User}' (team '{record.Team}') expired at {record.NotAfter:u}; ask an administrator for a new one");
        }

        if (teams.Find(record.Team) is null)
        {
            throw Refuse(http, caller, $"team '{record.Team}' of certificate {record.Serial} no longer exists on this agent");
        }

        if (teams.RoleOf(record.Team, record.User) is not { } role)
        {
            throw Refuse(http, caller, $"user '{record.User}' is no longer a member of team '{record.Team}' on this agent");
        }

        return caller with { Role = role };
    }

    private DockerApiException Refuse(HttpContext http, AuditCaller caller, string reason)
    {
        audit.Deny(AuditActions.SignIn, audit.Target("agent", null, null), Rule, reason, caller,
            new Dictionary<string, string>(StringComparer.Ordinal) { ["method"] = http.Request.Method, ["path"] = AuditTrail.Clip(http.Request.Path.Value) ?? "" });
        return new DockerApiException(StatusCodes.Status403Forbidden, "permission denied: " + reason);
    }

    private static AuditActor Actor(string serial, string user) => new()
    {
        Kind = AuditActorKind.ClientCertificate,
        KeyId = serial,
        Name = $"{user} (certificate {serial})",
    };

    private static AuditCaller Anonymous(string? source) => new()
    {
        Actor = new AuditActor { Kind = AuditActorKind.Anonymous, Name = "anonymous" },
        EntryPoint = AuditEntryPoint.DockerTls,
        Source = source,
    };

    private static string? Source(HttpContext http) => http.Connection.RemoteIpAddress is { } ip
        ? new System.Net.IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, http.Connection.RemotePort).ToString()
        : null;
}
