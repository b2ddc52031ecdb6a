using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Portal.Compute;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Docker.Tls;

/// <summary>
/// The agent's certificate authority for the docker API over mutual TLS: its own ECDSA P-256 CA under the state root
/// (the key 0600, made on first use), or an operator's CA from configuration. It signs the listener's certificate and
/// team members' client certificates (the user in CN, the team in OU; never the role, which the listener looks up on
/// each request), and checks at the handshake that a client certificate chains to it.
/// </summary>
public sealed class DockerCertificateAuthority : IDisposable
{
    public const int MaxClientDays = 825;
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(397);
    private static readonly TimeSpan ServerRenewBefore = TimeSpan.FromDays(30);
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private readonly DockerTlsOptions _options;
    private readonly string _directory;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _caLock = new(1, 1);
    private readonly Lock _serverLock = new();
    private X509Certificate2? _ca;
    private X509Certificate2? _server;

    public DockerCertificateAuthority(DockerTlsOptions options, string directory, TimeProvider? clock = null)
    {
        _options = options;
        _directory = directory;
        _clock = clock ?? TimeProvider.System;
        Certificates = new TeamCertificateStore(directory);
    }

    /// <summary>Where the agent keeps its CA and the issued certificates' records: &lt;StateRoot&gt;/agent/docker-tls.</summary>
    public static string DirectoryUnder(string stateRoot) => Path.Combine(stateRoot, "agent", "docker-tls");

    public string CaCertificatePath => Path.Combine(_directory, "ca.pem");

    public string CaKeyPath => Path.Combine(_directory, "ca-key.pem");

    /// <summary>The issued certificates and revocations.</summary>
    public TeamCertificateStore Certificates { get; }

    /// <summary>The CA, once <see cref="EnsureCaAsync"/> has run.</summary>
    public X509Certificate2 Ca => _ca ?? throw new InvalidOperationException("The docker CA is not loaded yet.");

    /// <summary>Loads the CA (the operator's, or the agent's own, made here the first time).</summary>
    public async Task<X509Certificate2> EnsureCaAsync(CancellationToken ct = default)
    {
        if (_ca is { } loaded)
        {
            return loaded;
        }

        await _caLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _ca ??= HasOperatorCa() ? LoadOperatorCa() : await LoadOrCreateOwnCaAsync(ct).ConfigureAwait(false);
            return _ca;
        }
        finally
        {
            _caLock.Release();
        }
    }

    /// <summary>
    /// Signs a client certificate for <paramref name="user"/> of <paramref name="team"/> and records it. The key is
    /// made here and returned once (PKCS#8 PEM); the agent keeps none.
    /// </summary>
    public async Task<TeamCertificateIssued> IssueClientAsync(string team, string user, int? days, CancellationToken ct = default)
    {
        var lifetime = days ?? _options.ClientCertificateDays;
        if (lifetime is < 1 or > MaxClientDays)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"A client certificate is valid for 1 to {MaxClientDays} days; {lifetime} was asked for.");
        }

        var ca = await EnsureCaAsync(ct).ConfigureAwait(false);
        var now = _clock.GetUtcNow();
        var notAfter = Min(now.AddDays(lifetime), ca.NotAfter);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("Portal");
        subject.AddOrganizationalUnitName(team);
        subject.AddCommonName(user);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthOid)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        AddAuthorityKeyIdentifier(request, ca);
        using var certificate = Sign(request, ca, NotBefore(now, ca), notAfter);
        var info = new TeamCertificateInfo
        {
            Serial = certificate.SerialNumber,
            Team = team,
            User = user,
            NotBefore = certificate.NotBefore.ToUniversalTime(),
            NotAfter = certificate.NotAfter.ToUniversalTime(),
            Thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256),
        };
        await Certificates.AddAsync(info, ct).ConfigureAwait(false);
        return new TeamCertificateIssued
        {
            Certificate = info,
            CaPem = ca.ExportCertificatePem() + "\n",
            CertPem = certificate.ExportCertificatePem() + "\n",
            KeyPem = key.ExportPkcs8PrivateKeyPem() + "\n",
        };
    }

    /// <summary>
    /// The listener's certificate (signed by the CA, for localhost, the host's name, the loopback addresses, the listen
    /// address and <see cref="DockerTlsOptions.Names"/>), kept in memory and renewed a month before it expires.
    /// </summary>
    public X509Certificate2 ServerCertificate(IPAddress? listenAddress)
    {
        lock (_serverLock)
        {
            if (_server is { } current && current.NotAfter.ToUniversalTime() - _clock.GetUtcNow().UtcDateTime > ServerRenewBefore)
            {
                return current;
            }

            var ca = Ca;
            var now = _clock.GetUtcNow();
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var names = ServerNames(listenAddress);
            var subject = new X500DistinguishedNameBuilder();
            subject.AddOrganizationName("Portal");
            subject.AddCommonName(names[0]);
            var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in names)
            {
                if (IPAddress.TryParse(name, out var ip))
                {
                    san.AddIpAddress(ip);
                }
                else
                {
                    san.AddDnsName(name);
                }
            }

            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthOid)], false));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            AddAuthorityKeyIdentifier(request, ca);
            using var signed = Sign(request, ca, NotBefore(now, ca), Min(now + ServerLifetime, ca.NotAfter));
            var previous = _server;
            _server = signed.CopyWithPrivateKey(key);
            previous?.Dispose();
            return _server;
        }
    }

    /// <summary>The names the listener's certificate carries: the configured ones first, then the defaults, once each.</summary>
    public IReadOnlyList<string> ServerNames(IPAddress? listenAddress)
    {
        var names = new List<string>();
        foreach (var name in _options.Names.Select(n => n.Trim()).Where(n => n.Length > 0))
        {
            if (!IPAddress.TryParse(name.Trim('[', ']'), out _) && Uri.CheckHostName(name) != UriHostNameType.Dns)
            {
                throw new InvalidOperationException($"Agent:DockerTls:Names has '{name}', which is neither a host name nor an IP address.");
            }

            names.Add(name.Trim('[', ']'));
        }

        names.AddRange(["localhost", Environment.MachineName, "127.0.0.1", "::1"]);
        if (listenAddress is { } ip && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any))
        {
            names.Add(ip.ToString());
        }

        return names.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>
    /// The handshake's check: the client's certificate chains to this CA (no other root), is valid now and is for
    /// client authentication. Which team and user it is, and whether it is revoked, is decided per request.
    /// </summary>
    public bool IsIssuedByCa(X509Certificate2 certificate)
    {
        if (_ca is not { } ca)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthOid));
        chain.ChainPolicy.VerificationTime = _clock.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        try
        {
            return chain.Build(certificate) && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _ca?.Dispose();
        _server?.Dispose();
        _caLock.Dispose();
    }

    private bool HasOperatorCa()
    {
        var certificate = !string.IsNullOrWhiteSpace(_options.CaCertificate);
        var key = !string.IsNullOrWhiteSpace(_options.CaKey);
        if (certificate != key)
        {
            throw new InvalidOperationException("Set both Agent:DockerTls:CaCertificate and Agent:DockerTls:CaKey (PEM files) to issue with your own CA, or neither to let the agent make its own.");
        }

        return certificate;
    }

    private X509Certificate2 LoadOperatorCa()
    {
        X509Certificate2 ca;
        try
        {
            ca = X509Certificate2.CreateFromPemFile(_options.CaCertificate, _options.CaKey);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"Could not load the docker CA from Agent:DockerTls:CaCertificate '{_options.CaCertificate}' and CaKey '{_options.CaKey}': {e.Message}. Give a PEM certificate and its PEM private key.", e);
        }

        if (ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            ca.Dispose();
            throw new InvalidOperationException($"Agent:DockerTls:CaCertificate '{_options.CaCertificate}' is not a CA certificate (its basic constraints do not allow issuing).");
        }

        return ca;
    }

    private async Task<X509Certificate2> LoadOrCreateOwnCaAsync(CancellationToken ct)
    {
        if (File.Exists(CaCertificatePath) && File.Exists(CaKeyPath))
        {
            return X509Certificate2.CreateFromPemFile(CaCertificatePath, CaKeyPath);
        }

        // The key is written (0600) before the certificate: a certificate on disk always has its key.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = _clock.GetUtcNow();
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("Portal");
        subject.AddCommonName($"Portal docker CA ({Environment.MachineName})");
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(now - ClockSkew, now.AddYears(10));
        await SecretFile.WriteAsync(CaKeyPath, key.ExportPkcs8PrivateKeyPem() + "\n", ct).ConfigureAwait(false);
        await StateFile.WriteBytesAsync(CaCertificatePath, System.Text.Encoding.ASCII.GetBytes(ca.ExportCertificatePem() + "\n"), ct).ConfigureAwait(false);
        return X509Certificate2.CreateFromPemFile(CaCertificatePath, CaKeyPath); // as every later start loads it
    }

    /// <summary>Signs with the CA's key, ECDSA (the agent's own) or RSA (an operator's may be), under a fresh serial.</summary>
    private static X509Certificate2 Sign(CertificateRequest request, X509Certificate2 ca, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var rsa = ca.GetRSAPrivateKey();
        using var ecdsa = rsa is null ? ca.GetECDsaPrivateKey() : null;
        var generator = rsa is not null ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1)
            : ecdsa is not null ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : throw new InvalidOperationException("The docker CA's key is neither RSA nor ECDSA; give an RSA or ECDSA CA (Agent:DockerTls:CaKey).");
        return request.Create(ca.SubjectName, generator, notBefore, notAfter, NewSerial());
    }

    /// <summary>Links the certificate to the CA's key when the CA names it (an operator's CA may not).</summary>
    private static void AddAuthorityKeyIdentifier(CertificateRequest request, X509Certificate2 ca)
    {
        if (ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any())
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        }
    }

    /// <summary>16 random bytes, positive and without a leading zero byte, so the hex serial has a stable form.</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    /// <summary>A few minutes back for clients whose clocks lag, but never before the CA's own start.</summary>
    private static DateTimeOffset NotBefore(DateTimeOffset now, X509Certificate2 ca)
    {
        var start = new DateTimeOffset(ca.NotBefore.ToUniversalTime());
        return now - ClockSkew > start ? now - ClockSkew : start;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a < b.ToUniversalTime() ? a : new DateTimeOffset(b.ToUniversalTime());
}
