using System.Formats.Tar;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Portal.Compute;
using Portal.Docker.Tls;

namespace Portal.Docker.Tests.Tls;

/// <summary>
/// The agent's docker CA without a listener: made on first use (key 0600) and reused, client certificates that chain to
/// it and carry the user and team (not the role), a foreign or expired certificate refused at the handshake check,
/// revocations kept across restarts, the listener's names, an operator's CA, and the context archive's layout.
/// </summary>
public sealed class DockerCertificateAuthorityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-docker-ca-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_ca_is_made_once_with_a_private_key_file_and_reused_after_a_restart()
    {
        using var first = new DockerCertificateAuthority(new DockerTlsOptions(), _directory);
        var ca = await first.EnsureCaAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(first.CaKeyPath));
        Assert.True(ca.HasPrivateKey);
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(256, ca.GetECDsaPublicKey()!.KeySize);

        using var second = new DockerCertificateAuthority(new DockerTlsOptions(), _directory);
        Assert.Equal(ca.Thumbprint, (await second.EnsureCaAsync()).Thumbprint);
    }

    [Fact]
    public async Task A_client_certificate_names_the_user_and_team_chains_to_the_ca_and_is_recorded_without_its_key()
    {
        using var authority = new DockerCertificateAuthority(new DockerTlsOptions { ClientCertificateDays = 30 }, _directory);
        var issued = await authority.IssueClientAsync("blue", "ann, \"the admin\"", null);
        using var certificate = X509Certificate2.CreateFromPem(issued.CertPem, issued.KeyPem);
        Assert.Equal("ann, \"the admin\"", certificate.GetNameInfo(X509NameType.SimpleName, false));
        Assert.Contains("OU=blue", certificate.Subject, StringComparison.Ordinal);
        Assert.DoesNotContain("Member", certificate.Subject, StringComparison.Ordinal);
        Assert.InRange(certificate.NotAfter.ToUniversalTime() - DateTime.UtcNow, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30));
        Assert.True(authority.IsIssuedByCa(certificate));
        Assert.Equal(certificate.SerialNumber, issued.Certificate.Serial);
        Assert.Equal(issued.CaPem.Trim(), authority.Ca.ExportCertificatePem());

        var recorded = await File.ReadAllTextAsync(Path.Combine(_directory, "certificates.json"));
        Assert.Contains(issued.Certificate.Serial, recorded, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", recorded, StringComparison.Ordinal);
        Assert.Equal(issued.Certificate, new TeamCertificateStore(_directory).Find(issued.Certificate.Serial.ToLowerInvariant()));

        var longest = await authority.IssueClientAsync("blue", new string('u', Portal.Compute.Teams.TeamStore.MaxUserLength), null);
        Assert.Equal(Portal.Compute.Teams.TeamStore.MaxUserLength, longest.Certificate.User.Length);

        var tooLong = await Assert.ThrowsAsync<ComputeException>(() => authority.IssueClientAsync("blue", "ann", 826));
        Assert.Equal(ComputeErrorCode.InvalidArgument, tooLong.Code);
        Assert.Contains("1 to 825 days", tooLong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Foreign_server_and_expired_certificates_fail_the_handshake_check()
    {
        var clock = new MovableClock();
        using var authority = new DockerCertificateAuthority(new DockerTlsOptions(), _directory, clock);
        var issued = await authority.IssueClientAsync("blue", "ann", 1);
        using var client = X509Certificate2.CreateFromPem(issued.CertPem);
        Assert.True(authority.IsIssuedByCa(client));

        using var otherDirectory = new TempDirectory();
        using var other = new DockerCertificateAuthority(new DockerTlsOptions(), otherDirectory.Path);
        using var foreign = X509Certificate2.CreateFromPem((await other.IssueClientAsync("blue", "ann", 1)).CertPem);
        Assert.False(authority.IsIssuedByCa(foreign));

        // The listener's own certificate is for servers, not clients.
        Assert.False(authority.IsIssuedByCa(authority.ServerCertificate(null)));

        clock.Now += TimeSpan.FromDays(2);
        Assert.False(authority.IsIssuedByCa(client));
    }

    [Fact]
    public async Task A_revocation_is_kept_across_restarts_and_only_for_the_certificate_s_team()
    {
        using var authority = new DockerCertificateAuthority(new DockerTlsOptions(), _directory);
        var issued = await authority.IssueClientAsync("blue", "ann", null);
        Assert.Null(await authority.Certificates.RevokeAsync("red", issued.Certificate.Serial, DateTimeOffset.UtcNow));
        var revoked = await authority.Certificates.RevokeAsync("blue", issued.Certificate.Serial.ToLowerInvariant(), DateTimeOffset.UtcNow);
        Assert.NotNull(revoked!.RevokedAt);
        var again = await authority.Certificates.RevokeAsync("blue", issued.Certificate.Serial, DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal(revoked.RevokedAt, again!.RevokedAt);

        var reloaded = new TeamCertificateStore(_directory);
        Assert.Equal(revoked.RevokedAt, reloaded.Find(issued.Certificate.Serial)!.RevokedAt);
        Assert.Equal([issued.Certificate.Serial], reloaded.List("blue").Select(c => c.Serial));
        Assert.Empty(reloaded.List("red"));
        Assert.Throws<ComputeException>(() => TeamCertificateStore.ValidateSerial("../etc"));
    }

    [Fact]
    public async Task The_listener_s_certificate_carries_the_configured_names_and_the_defaults()
    {
        using var authority = new DockerCertificateAuthority(new DockerTlsOptions { Names = ["docker.example.test", "10.1.2.3"] }, _directory);
        await authority.EnsureCaAsync();
        var server = authority.ServerCertificate(IPAddress.Parse("192.0.2.7"));
        Assert.Same(server, authority.ServerCertificate(IPAddress.Parse("192.0.2.7")));
        Assert.True(server.HasPrivateKey);
        var san = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["docker.example.test", "localhost", Environment.MachineName], san.EnumerateDnsNames().Distinct(StringComparer.OrdinalIgnoreCase));
        Assert.Equal(["10.1.2.3", "127.0.0.1", "::1", "192.0.2.7"], san.EnumerateIPAddresses().Select(a => a.ToString()));
        Assert.Equal("docker.example.test", server.GetNameInfo(X509NameType.SimpleName, false));

        using var bad = new DockerCertificateAuthority(new DockerTlsOptions { Names = ["not a name"] }, _directory);
        Assert.Contains("Agent:DockerTls:Names has 'not a name'", Assert.Throws<InvalidOperationException>(() => bad.ServerNames(null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_operator_s_ca_issues_instead_and_a_wrong_one_is_named()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=Operator CA", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var operatorCa = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var certPath = Path.Combine(_directory, "operator.pem");
        var keyPath = Path.Combine(_directory, "operator-key.pem");
        await File.WriteAllTextAsync(certPath, operatorCa.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, rsa.ExportPkcs8PrivateKeyPem());

        using var authority = new DockerCertificateAuthority(new DockerTlsOptions { CaCertificate = certPath, CaKey = keyPath }, Path.Combine(_directory, "state"));
        var issued = await authority.IssueClientAsync("blue", "ann", null);
        using var client = X509Certificate2.CreateFromPem(issued.CertPem);
        Assert.Equal("CN=Operator CA", client.Issuer);
        Assert.True(authority.IsIssuedByCa(client));
        Assert.False(File.Exists(authority.CaKeyPath));

        using var half = new DockerCertificateAuthority(new DockerTlsOptions { CaCertificate = certPath }, _directory);
        Assert.Contains("Set both Agent:DockerTls:CaCertificate and Agent:DockerTls:CaKey", (await Assert.ThrowsAsync<InvalidOperationException>(() => half.EnsureCaAsync())).Message, StringComparison.Ordinal);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = new CertificateRequest("CN=leaf", leafKey, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(certPath, leaf.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, leafKey.ExportPkcs8PrivateKeyPem());
        using var notCa = new DockerCertificateAuthority(new DockerTlsOptions { CaCertificate = certPath, CaKey = keyPath }, _directory);
        Assert.Contains("is not a CA certificate", (await Assert.ThrowsAsync<InvalidOperationException>(() => notCa.EnsureCaAsync())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_context_archive_has_docker_s_export_layout()
    {
        using var output = new MemoryStream();
        await DockerContextArchive.WriteAsync(output, "portal-blue-ann", "Portal team blue as ann", "tcp://docker.example.test:2376", "CA\n", "CERT\n", "KEY\n");
        output.Position = 0;
        var entries = new Dictionary<string, (TarEntryType Type, UnixFileMode Mode, string Text)>();
        using (var reader = new TarReader(output))
        {
            while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
            {
                entries[entry.Name] = (entry.EntryType, entry.Mode, entry.DataStream is { } data ? await new StreamReader(data).ReadToEndAsync() : "");
            }
        }

        Assert.Equal(["meta.json", "tls/", "tls/docker/", "tls/docker/ca.pem", "tls/docker/cert.pem", "tls/docker/key.pem"], entries.Keys);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, entries["tls/docker/key.pem"].Mode);
        Assert.Equal("KEY\n", entries["tls/docker/key.pem"].Text);
        using var meta = JsonDocument.Parse(entries["meta.json"].Text);
        Assert.Equal("portal-blue-ann", meta.RootElement.GetProperty("Name").GetString());
        Assert.Equal("tcp://docker.example.test:2376", meta.RootElement.GetProperty("Endpoints").GetProperty("docker").GetProperty("Host").GetString());
        Assert.False(meta.RootElement.GetProperty("Endpoints").GetProperty("docker").GetProperty("SkipTLSVerify").GetBoolean());
        Assert.Equal(64, DockerContextArchive.StorageId("portal-blue-ann").Length);
    }

    [Theory]
    [InlineData("0.0.0.0:2376", "0.0.0.0:2376")]
    [InlineData("[::]:2376", "[::]:2376")]
    [InlineData(" 127.0.0.1:12376 ", "127.0.0.1:12376")]
    [InlineData("", null)]
    public void The_listen_setting_is_an_address_and_a_port_or_empty(string listen, string? expected) =>
        Assert.Equal(expected, DockerApiServer.ParseListen(listen)?.ToString());

    [Theory]
    [InlineData("2376")]
    [InlineData("localhost:2376")]
    [InlineData("0.0.0.0")]
    public void A_listen_setting_without_an_address_and_port_says_what_to_write(string listen) =>
        Assert.Contains("use e.g. 0.0.0.0:2376", Assert.Throws<InvalidOperationException>(() => DockerApiServer.ParseListen(listen)).Message, StringComparison.Ordinal);

    private sealed class MovableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("portal-docker-ca-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
