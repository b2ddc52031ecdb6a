using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// The docker CLI over mutual TLS with team members' certificates, against the real agent: a Member of team A runs
/// containers and sees only team A's, a Viewer's `docker run` is refused naming the role, a revoked certificate, a
/// member removed from the team and a certificate of another CA are refused, and a downloaded context imported with
/// `docker context import` works. Every certificate issued and revoked is in the audit trail, without its key.
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerTlsTests(DockerTlsAgentFixture fixture) : IClassFixture<DockerTlsAgentFixture>
{
    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task A_member_runs_and_lists_only_its_team_s_containers_as_that_team_caller()
    {
        var ann = await fixture.IssueAsync("team-a", "ann");
        var theirs = "tls-b-" + Guid.NewGuid().ToString("N")[..8];
        var created = await Agent.DockerAsync("create", "--isolation=process", "--name", theirs, "-l", $"{TeamRules.OwnerLabel}=team-b", "busybox", "true");
        Assert.True(created.ExitCode == 0, created.ToString());

        var mine = "tls-a-" + Guid.NewGuid().ToString("N")[..8];
        var run = await fixture.DockerAsAsync(ann, "run", "--name", mine, "--isolation=process", "busybox", "echo", "hi over tls");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("hi over tls\n", run.Stdout);

        var ps = await fixture.DockerAsAsync(ann, "ps", "-a", "--format", "{{.Names}}");
        Assert.True(ps.ExitCode == 0, ps.ToString());
        Assert.Equal([mine], ps.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain(theirs, ps.Stdout, StringComparison.Ordinal);
        foreach (var verb in new[] { "inspect", "rm", "stop" })
        {
            var other = await fixture.DockerAsAsync(ann, verb, theirs);
            Assert.NotEqual(0, other.ExitCode);
            Assert.Contains("No such", other.Stderr, StringComparison.Ordinal);
        }

        Assert.Equal(theirs, (await Agent.Agent.GetAsync<ContainerView>($"api/containers/{theirs}")).Container.Name);

        // The rest of a member's everyday CLI works over TLS too: streams, exec, images, networks, info.
        var logs = await fixture.DockerAsAsync(ann, "logs", mine);
        Assert.True(logs.ExitCode == 0 && logs.Stdout == "hi over tls\n", logs.ToString());
        foreach (var args in new[] { new[] { "images" }, ["network", "ls"], ["info", "--format", "{{.OSType}}"], ["version"] })
        {
            var result = await fixture.DockerAsAsync(ann, args);
            Assert.True(result.ExitCode == 0, string.Join(' ', args) + ": " + result);
        }

        var sleeper = "tls-a-exec-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await fixture.DockerAsAsync(ann, "run", "-d", "--name", sleeper, "--isolation=process", "busybox", "sleep", "60")).ExitCode);
        var exec = await fixture.DockerAsAsync(ann, "exec", sleeper, "echo", "inside");
        Assert.True(exec.ExitCode == 0 && exec.Stdout == "inside\n", exec.ToString());
        Assert.Equal(0, (await fixture.DockerAsAsync(ann, "rm", "-f", sleeper)).ExitCode);

        // The container belongs to team A, and the trail names the member, the team, the entry point and the address.
        var view = await Agent.Agent.GetAsync<ContainerView>($"api/containers/{mine}");
        Assert.Equal("team-a", view.Container.Labels[TeamRules.OwnerLabel]);
        var entries = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?target={mine}")).Entries;
        Assert.Equal([AuditActions.ContainerCreate, AuditActions.ContainerStart], entries.Select(e => e.Action));
        Assert.All(entries, e =>
        {
            Assert.Equal((AuditEntryPoint.DockerTls, AuditActorKind.ClientCertificate, "team-a", "ann"), (e.EntryPoint, e.Actor.Kind, e.Team, e.User));
            Assert.Equal(ann.Certificate.Serial, e.Actor.KeyId);
            Assert.StartsWith("127.0.0.1:", e.Source, StringComparison.Ordinal);
        });
    }

    [RootFact]
    public async Task A_viewer_s_run_is_refused_naming_the_role_and_a_role_change_counts_at_once()
    {
        var vic = await fixture.IssueAsync("team-a", "vic");
        var refused = await fixture.DockerAsAsync(vic, "run", "--rm", "--isolation=process", "busybox", "true");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("Viewer", refused.Stderr, StringComparison.Ordinal);
        var ps = await fixture.DockerAsAsync(vic, "ps");
        Assert.True(ps.ExitCode == 0, ps.ToString());

        // The role is not in the certificate: the team store is read on each request.
        await fixture.PutTeamAsync("team-c", ("cas", TeamRole.Viewer));
        var cas = await fixture.IssueAsync("team-c", "cas");
        Assert.NotEqual(0, (await fixture.DockerAsAsync(cas, "create", "--isolation=process", "busybox", "true")).ExitCode);
        await fixture.PutTeamAsync("team-c", ("cas", TeamRole.Member));
        var made = await fixture.DockerAsAsync(cas, "create", "--isolation=process", "busybox", "true");
        Assert.True(made.ExitCode == 0, made.ToString());
    }

    [RootFact]
    public async Task Revoked_certificates_former_members_and_other_cas_are_refused()
    {
        var revoked = await fixture.IssueAsync("team-a", "ann");
        Assert.True((await fixture.DockerAsAsync(revoked, "ps")).ExitCode == 0);

        // An attached run in progress (its attach stream and its wait) ends when the certificate is revoked.
        var attached = "tls-a-revoked-" + Guid.NewGuid().ToString("N")[..8];
        var running = fixture.DockerAsAsync(revoked, "run", "--name", attached, "--isolation=process", "busybox", "sleep", "50");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!running.IsCompleted && DateTime.UtcNow < deadline
            && !(await Agent.Agent.GetAsync<List<ContainerView>>("api/containers")).Any(c => c.Container.Name == attached && c.Container.State == ContainerState.Running))
        {
            await Task.Delay(100);
        }

        Assert.False(running.IsCompleted, running.IsCompleted ? running.Result.ToString() : "");
        var delete = await Agent.Agent.Socket.DeleteAsync($"api/teams/team-a/certificates/{revoked.Certificate.Serial.ToLowerInvariant()}");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        var ended = await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, ended.ExitCode);
        var afterRevoke = await fixture.DockerAsAsync(revoked, "ps");
        Assert.NotEqual(0, afterRevoke.ExitCode);
        Assert.Contains($"certificate {revoked.Certificate.Serial} of user 'ann' (team 'team-a') was revoked", afterRevoke.Stderr, StringComparison.Ordinal);
        var listed = await Agent.Agent.GetAsync<List<TeamCertificateInfo>>("api/teams/team-a/certificates");
        Assert.NotNull(listed.Single(c => c.Serial == revoked.Certificate.Serial).RevokedAt);
        Assert.Equal(HttpStatusCode.NotFound, (await Agent.Agent.Socket.DeleteAsync("api/teams/team-b/certificates/" + revoked.Certificate.Serial)).StatusCode);

        await fixture.PutTeamAsync("team-d", ("dee", TeamRole.Member));
        var dee = await fixture.IssueAsync("team-d", "dee");
        Assert.True((await fixture.DockerAsAsync(dee, "ps")).ExitCode == 0);
        await fixture.PutTeamAsync("team-d", ("someone-else", TeamRole.Member));
        var formerMember = await fixture.DockerAsAsync(dee, "ps");
        Assert.NotEqual(0, formerMember.ExitCode);
        Assert.Contains("user 'dee' is no longer a member of team 'team-d'", formerMember.Stderr, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await Agent.Agent.Socket.DeleteAsync("api/teams/team-d")).StatusCode);
        Assert.Contains("team 'team-d' of certificate", (await fixture.DockerAsAsync(dee, "ps")).Stderr, StringComparison.Ordinal);

        // A certificate from another CA, even for a real member, does not complete the handshake (TLS 1.3: the
        // client learns it when the server closes the connection).
        var foreign = ForeignCertificate("ann", "team-a") with { CaPem = revoked.CaPem };
        var handshake = await fixture.DockerAsAsync(foreign, "ps");
        Assert.NotEqual(0, handshake.ExitCode);
        Assert.True(handshake.Stderr.StartsWith("error during connect", StringComparison.Ordinal), handshake.ToString());

        var refusals = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?action={AuditActions.SignIn}")).Entries
            .Where(e => e.EntryPoint == AuditEntryPoint.DockerTls).ToList();
        Assert.Contains(refusals, e => e.Decision == AuditDecision.Denied && e.Rule == "docker-certificate" && e.User == "ann" && e.Reason!.Contains("revoked", StringComparison.Ordinal));
        Assert.Contains(refusals, e => e.User == "dee" && e.Reason!.Contains("no longer a member", StringComparison.Ordinal));
        var revocation = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?action={AuditActions.CertificateRevoke}")).Entries;
        Assert.Contains(revocation, e => e.Target!.Id == revoked.Certificate.Serial && e.Result == AuditResult.Ok && e.Details!["user"] == "ann");
    }

    [RootFact]
    public async Task A_downloaded_context_imports_and_works_and_issuing_is_recorded_without_the_key()
    {
        var response = await Agent.Agent.Socket.PostAsJsonAsync("api/teams/team-a/certificates?format=context&context=portal-ann", new TeamCertificateRequest { User = "ann", Days = 7 }, AgentProcess.Json);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        Assert.Equal("application/x-tar", response.Content.Headers.ContentType?.MediaType);
        var archive = Path.Combine(fixture.Directory, "portal-ann.dockercontext");
        await File.WriteAllBytesAsync(archive, await response.Content.ReadAsByteArrayAsync());

        var import = await Agent.DockerAsync("context", "import", "portal-ann", archive);
        Assert.True(import.ExitCode == 0, import.ToString());
        try
        {
            var inspect = await Agent.DockerAsync("context", "inspect", "portal-ann", "--format", "{{.Endpoints.docker.Host}} {{.Endpoints.docker.SkipTLSVerify}}");
            Assert.Equal($"tcp://127.0.0.1:{fixture.Port} false", inspect.Stdout.Trim());
            var noHost = new Dictionary<string, string?> { ["DOCKER_HOST"] = null };
            var version = await Agent.DockerWithEnvironmentAsync(noHost, "--context", "portal-ann", "version", "--format", "{{.Server.APIVersion}}");
            Assert.True(version.ExitCode == 0, version.ToString());
            var ps = await Agent.DockerWithEnvironmentAsync(noHost, "--context", "portal-ann", "ps", "-a");
            Assert.True(ps.ExitCode == 0, ps.ToString());
        }
        finally
        {
            await Agent.DockerAsync("context", "rm", "-f", "portal-ann");
        }

        var issued = (await Agent.Agent.GetAsync<AuditPage>($"api/audit?action={AuditActions.CertificateIssue}")).Entries;
        Assert.Contains(issued, e => e.Details!["user"] == "ann" && e.Details["format"] == "context" && e.Result == AuditResult.Ok);
        Assert.DoesNotContain("PRIVATE KEY", JsonSerializer.Serialize(issued), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite,
            File.GetUnixFileMode(Path.Combine(Agent.Sandbox.StateRoot, "agent", "docker-tls", "ca-key.pem")));

        // What is wrong with a request is said: no member, not a member, a bad format.
        var notMember = await Agent.Agent.Socket.PostAsJsonAsync("api/teams/team-a/certificates", new TeamCertificateRequest { User = "bob" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.BadRequest, notMember.StatusCode);
        Assert.Contains("not a member of team 'team-a'", await notMember.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var badFormat = await Agent.Agent.Socket.PostAsJsonAsync("api/teams/team-a/certificates?format=zip", new TeamCertificateRequest { User = "ann" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.BadRequest, badFormat.StatusCode);
        var noTeam = await Agent.Agent.Socket.PostAsJsonAsync("api/teams/nope/certificates", new TeamCertificateRequest { User = "ann" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.NotFound, noTeam.StatusCode);

        foreach (var body in new[] { "", "null", "[1]", "{\"user\":5}", "{\"user\":\"ann\",\"days\":0}", "{\"user\":\"ann\",\"days\":\"x\"}", "{\"user\":\"ann\",\"days\":99999999999}", "{\"user\":\"ann\"", "{\"user\":\" ann\"}" })
        {
            var bad = await Agent.Agent.Socket.PostAsync("api/teams/team-a/certificates", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{body}: {(int)bad.StatusCode} {await bad.Content.ReadAsStringAsync()}");
        }

        var badContext = await Agent.Agent.Socket.PostAsJsonAsync("api/teams/team-a/certificates?format=context&context=../x", new TeamCertificateRequest { User = "ann" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.BadRequest, badContext.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Agent.Agent.Socket.DeleteAsync("api/teams/team-a/certificates/zz")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Agent.Agent.Socket.DeleteAsync("api/teams/team-a/certificates/" + new string('A', 65))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Agent.Agent.Socket.GetAsync("api/teams/Bad%20Name/certificates")).StatusCode);

        // Issuing is for administrators: an Operate key is refused, the admin key over TCP (as the portal) is not.
        var key = await Agent.Agent.PostAsync<ApiKeyCreated>("api/keys", new ApiKeyRequest("tls-operator", ApiScope.Operate));
        using var operate = Agent.Agent.TcpWithKey(key.Secret);
        Assert.Equal(HttpStatusCode.Forbidden, (await operate.PostAsJsonAsync("api/teams/team-a/certificates", new TeamCertificateRequest { User = "ann" }, AgentProcess.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await operate.GetAsync("api/teams/team-a/certificates")).StatusCode);
        using var admin = Agent.Agent.TcpWithKey(Agent.Agent.AdminKey!);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("api/teams/team-a/certificates", new TeamCertificateRequest { User = "vic" }, AgentProcess.Json)).StatusCode);
    }

    /// <summary>A member's certificate signed by a CA the agent has never seen.</summary>
    private static TeamCertificateIssued ForeignCertificate(string user, string team)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN=Another CA, O=Portal", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        // One clock reading for both: the leaf must end before its CA, whose end is kept to the second.
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={user}, OU={team}, O=Portal", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var certificate = request.Create(ca, now.AddMinutes(-1), now.AddHours(12), [0x42, 0x01]);
        return new TeamCertificateIssued
        {
            Certificate = new TeamCertificateInfo { Serial = certificate.SerialNumber, Team = team, User = user, NotBefore = certificate.NotBefore, NotAfter = certificate.NotAfter, Thumbprint = "" },
            CaPem = ca.ExportCertificatePem(),
            CertPem = certificate.ExportCertificatePem(),
            KeyPem = key.ExportPkcs8PrivateKeyPem(),
        };
    }
}

/// <summary>
/// The agent with its docker TLS listener on a free loopback port, and teams A (ann Member, vic Viewer) and B (bob
/// Member). As any user but root this starts nothing (the tests are root-only).
/// </summary>
public sealed class DockerTlsAgentFixture : IAsyncLifetime
{
    private DockerAgent? _agent;

    public DockerAgent Agent => _agent ?? throw new InvalidOperationException(RootOnly.IsRoot ? "The agent did not start." : RootOnly.Reason);

    public int Port { get; } = FreeTcpPort.Next();

    /// <summary>Where the tests keep certificate files; removed at the end.</summary>
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("portal-docker-tls-").FullName;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _agent = await DockerAgent.StartAsync(agent =>
        {
            agent.Environment["Agent__DockerTls__Listen"] = $"127.0.0.1:{Port}";
            agent.Environment["Agent__DockerTls__Names__0"] = "127.0.0.1";
        });
        await PutTeamAsync("team-a", ("ann", TeamRole.Member), ("vic", TeamRole.Viewer));
        await PutTeamAsync("team-b", ("bob", TeamRole.Member));
    }

    public async Task PutTeamAsync(string name, params (string User, TeamRole Role)[] members)
    {
        var response = await Agent.Agent.Socket.PutAsJsonAsync($"api/teams/{name}",
            new TeamInfo { Name = name, Members = members.Select(m => new TeamMember { User = m.User, Role = m.Role }).ToList() }, AgentProcess.Json);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<TeamCertificateIssued> IssueAsync(string team, string user)
    {
        var response = await Agent.Agent.Socket.PostAsJsonAsync($"api/teams/{team}/certificates", new TeamCertificateRequest { User = user }, AgentProcess.Json);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var issued = (await response.Content.ReadFromJsonAsync<TeamCertificateIssued>(AgentProcess.Json))!;
        Assert.Equal($"tcp://127.0.0.1:{Port}", issued.DockerHost);
        return issued;
    }

    /// <summary>The docker CLI as the holder of <paramref name="certificate"/>: --tlsverify against the listener.</summary>
    public async Task<CliResult> DockerAsAsync(TeamCertificateIssued certificate, params string[] args)
    {
        var files = System.IO.Directory.CreateDirectory(Path.Combine(Directory, Guid.NewGuid().ToString("N"))).FullName;
        await File.WriteAllTextAsync(Path.Combine(files, "ca.pem"), certificate.CaPem);
        await File.WriteAllTextAsync(Path.Combine(files, "cert.pem"), certificate.CertPem);
        await File.WriteAllTextAsync(Path.Combine(files, "key.pem"), certificate.KeyPem);
        string[] tls = ["--tlsverify", "--tlscacert", Path.Combine(files, "ca.pem"), "--tlscert", Path.Combine(files, "cert.pem"), "--tlskey", Path.Combine(files, "key.pem"), "-H", $"tcp://127.0.0.1:{Port}"];
        return await Agent.DockerWithEnvironmentAsync(new Dictionary<string, string?> { ["DOCKER_HOST"] = null }, [.. tls, .. args]);
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
