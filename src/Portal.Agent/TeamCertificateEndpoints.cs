using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Portal.Agent.Audit;
using Portal.Agent.Auth;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Docker;
using Portal.Docker.Tls;

namespace Portal.Agent;

/// <summary>
/// Team members' client certificates for the docker CLI over mutual TLS (Agent:DockerTls), for administrators: issue
/// one (as PEMs, or as a docker context archive for `docker context import`), list a team's, revoke one by serial.
/// Issuing and revoking are recorded in the audit trail (never the private key).
/// </summary>
public static partial class TeamCertificateEndpoints
{
    public const string ContextFormat = "context";

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$")]
    private static partial Regex ContextName();

    public static void MapTeamCertificates(this IEndpointRouteBuilder app)
    {
        var certificates = app.MapGroup("/api/teams/{name}/certificates").RequireAuthorization(AgentPolicies.Admin).WithTags("Teams");
        certificates.MapGet("/", (string name, DockerCertificateAuthority authority) => authority.Certificates.List(TeamStore.ValidateName(name)))
            .Audited(AuditActions.CertificateList, "team", "name");
        certificates.MapPost("/", IssueAsync).Audited(AuditActions.CertificateIssue, "team", "name");
        certificates.MapDelete("/{serial}", RevokeAsync).Audited(AuditActions.CertificateRevoke, "certificate", "serial");
    }

    /// <summary>
    /// POST /api/teams/{name}/certificates {"user": "ann", "days": 90}: 201 with the PEMs, or with ?format=context a
    /// docker context archive (its name from ?context=, default portal-{team}-{user}).
    /// </summary>
    private static async Task<IResult> IssueAsync(string name, string? format, string? context, TeamCertificateRequest? request,
        TeamStore teams, DockerCertificateAuthority authority, IOptions<DockerApiOptions> docker, AuditTrail audit, CancellationToken ct)
    {
        var user = request?.User;
        var details = new Dictionary<string, string>(StringComparer.Ordinal) { ["team"] = name, ["user"] = user ?? "", ["format"] = format ?? "pem" };
        if (request?.Days is { } days)
        {
            details["days"] = days.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        string? contextName = null;
        var issued = await audit.RecordAsync(AuditActions.CertificateIssue, audit.Target("certificate", null, user), async () =>
        {
            TeamStore.ValidateName(name);
            var asContext = format switch
            {
                null or "" or "pem" => false,
                ContextFormat => true,
                _ => throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown format '{format}': leave it out for the PEMs as JSON, or use format=context for a docker context archive."),
            };
            if (string.IsNullOrWhiteSpace(user))
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, "Name the team member the certificate is for: {\"user\": \"ann\"}.");
            }

            teams.Get(name);
            if (teams.RoleOf(name, user) is null)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"User '{user}' is not a member of team '{name}' on this agent; add them first (PUT /api/teams/{name}).");
            }

            var host = DockerHost(docker.Value.DockerTls);
            if (asContext)
            {
                if (host is null)
                {
                    throw new ComputeException(ComputeErrorCode.InvalidArgument, "The docker TLS listener is off on this agent, so a context would point nowhere: set Agent:DockerTls:Listen (e.g. 0.0.0.0:2376), or leave out format=context for the PEMs.");
                }

                contextName = context ?? $"portal-{name}-{user}";
                if (contextName.Length > 100 || !ContextName().IsMatch(contextName))
                {
                    throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{contextName}' is not a docker context name: use letters, digits, '_', '.', '+' and '-', starting with a letter or digit (pass ?context=NAME).");
                }
            }

            return await authority.IssueClientAsync(name, user, request?.Days, ct).ConfigureAwait(false) with { DockerHost = host };
        }, issued => audit.Target("certificate", issued.Certificate.Serial, issued.Certificate.User), details: details).ConfigureAwait(false);

        if (contextName is null)
        {
            return Results.Created($"/api/teams/{name}/certificates/{issued.Certificate.Serial}", issued);
        }

        using var archive = new MemoryStream();
        await DockerContextArchive.WriteAsync(archive, contextName, $"Portal team {name} as {user} ({issued.DockerHost})", issued.DockerHost!,
            issued.CaPem, issued.CertPem, issued.KeyPem, ct).ConfigureAwait(false);
        return Results.File(archive.ToArray(), "application/x-tar", contextName + ".dockercontext");
    }

    /// <summary>DELETE /api/teams/{name}/certificates/{serial}: the listener refuses the certificate from its next request on.</summary>
    private static async Task<IResult> RevokeAsync(string name, string serial, DockerCertificateAuthority authority, AuditTrail audit, CancellationToken ct)
    {
        var valid = TeamCertificateStore.ValidateSerial(serial);
        if (authority.Certificates.Find(valid) is not { } known || known.Team != name)
        {
            return Results.Problem(ApiErrors.Problem(StatusCodes.Status404NotFound, "CertificateNotFound",
                $"Team '{name}' has no certificate with serial {valid}; GET /api/teams/{name}/certificates lists its certificates."));
        }

        var revoked = await audit.RecordAsync(AuditActions.CertificateRevoke, audit.Target("certificate", valid, known.User),
            async () => (await authority.Certificates.RevokeAsync(name, valid, TimeProvider.System.GetUtcNow(), ct).ConfigureAwait(false))!,
            details: new Dictionary<string, string>(StringComparer.Ordinal) { ["team"] = name, ["user"] = known.User }).ConfigureAwait(false);
        return Results.Ok(revoked);
    }

    /// <summary>DOCKER_HOST for the listener: Agent:DockerTls:PublicAddress, else the first name (or the host's) with the listen port; null while off.</summary>
    public static string? DockerHost(DockerTlsOptions options)
    {
        if (DockerApiServer.ParseListen(options.Listen) is not { } listen)
        {
            return null;
        }

        if (!string.IsNullOrWhiteSpace(options.PublicAddress))
        {
            return "tcp://" + options.PublicAddress.Trim();
        }

        var host = options.Names.Select(n => n.Trim()).FirstOrDefault(n => n.Length > 0) ?? Environment.MachineName;
        if (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            host = $"[{ip}]";
        }

        return $"tcp://{host}:{listen.Port}";
    }
}
