using System.Collections.Concurrent;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Docker.Tls;

/// <summary>
/// Who calls the docker API over mutual TLS: the client certificate (already chained to the agent's CA at the
/// handshake) names a certificate this agent issued; its team and user come from that record and the role from the
/// agent's team store, on every request, so a revocation, a role change or a removal from the team counts at once.
/// The request then runs as that team caller, and <see cref="TeamScopedComputeHost"/> applies the team's rules.
/// Revoking a certificate also ends its requests in progress (followed logs, attached runs, exec sessions), as
/// revoking an API key does.
/// </summary>
internal sealed class DockerTlsCallers : IDisposable
{
    public const string Rule = "docker-certificate";

    private readonly DockerCertificateAuthority _authority;
    private readonly TeamStore _teams;
    private readonly AuditTrail _audit;
    private readonly TimeProvider _clock;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<HttpContext, byte>> _inProgress = new(StringComparer.OrdinalIgnoreCase);
    private readonly TeamSessions _sessions;

    public DockerTlsCallers(DockerCertificateAuthority authority, TeamStore teams, AuditTrail audit, TimeProvider clock)
    {
        (_authority, _teams, _audit, _clock) = (authority, teams, audit, clock);
        _sessions = new TeamSessions(teams);
        authority.Certificates.Revoked += EndRequestsOf;
    }

    /// <summary>
    /// Runs the request as the certificate's team caller, or refuses it; a revocation while it runs aborts it (the
    /// request is registered before the last look at the revocation, so none slips between them).
    /// </summary>
    public async Task RunAsync(HttpContext http, RequestDelegate next)
    {
        var caller = Resolve(http);
        var serial = caller.Actor.KeyId!;
        var requests = _inProgress.GetOrAdd(serial, _ => new ConcurrentDictionary<HttpContext, byte>());
        requests[http] = 0;
        try
        {
            if (_authority.Certificates.Find(serial)?.RevokedAt is not null)
            {
                throw Refuse(http, caller, $"certificate {serial} of user '{caller.User}' (team '{caller.Team}') was revoked; ask an administrator for a new one");
            }

            AuditCaller.Current = caller;
            // The team, the membership and the role it was admitted with: a change ends it (followed logs, exec sessions).
            using var session = _sessions.Track(caller, http.Abort);
            await next(http).ConfigureAwait(false);
        }
        finally
        {
            requests.TryRemove(http, out _);
        }
    }

    public void Dispose()
    {
        _authority.Certificates.Revoked -= EndRequestsOf;
        _sessions.Dispose();
    }

    private void EndRequestsOf(TeamCertificateInfo certificate)
    {
        if (_inProgress.TryGetValue(certificate.Serial, out var requests))
        {
            foreach (var http in requests.Keys)
            {
                http.Abort();
            }
        }
    }

    /// <summary>The caller for this request, or a 403 in dockerd's shape saying why the certificate is refused (recorded).</summary>
    private AuditCaller Resolve(HttpContext http)
    {
        var source = Source(http);
        var certificate = http.Connection.ClientCertificate;
        if (certificate is null)
        {
            throw Refuse(http, Anonymous(source), "this listener needs a client certificate issued by the agent (docker --tlsverify --tlscert cert.pem --tlskey key.pem)");
        }

        var record = _authority.Certificates.Find(certificate.SerialNumber);
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

        if (record.NotAfter <= _clock.GetUtcNow())
        {
            throw Refuse(http, caller, $"certificate {record.Serial} of user '{record.User}' (team '{record.Team}') expired at {record.NotAfter:u}; ask an administrator for a new one");
        }

        if (_teams.Find(record.Team) is null)
        {
            throw Refuse(http, caller, $"team '{record.Team}' of certificate {record.Serial} no longer exists on this agent");
        }

        if (_teams.RoleOf(record.Team, record.User) is not { } role)
        {
            throw Refuse(http, caller, $"user '{record.User}' is no longer a member of team '{record.Team}' on this agent");
        }

        return caller with { Role = role };
    }

    private DockerApiException Refuse(HttpContext http, AuditCaller caller, string reason)
    {
        _audit.Deny(AuditActions.SignIn, _audit.Target("agent", null, null), Rule, reason, caller,
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
