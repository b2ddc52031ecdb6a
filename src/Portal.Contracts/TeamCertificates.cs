namespace Portal.Contracts;

/// <summary>A client certificate for a team member (POST /api/teams/{team}/certificates): the docker CLI over mutual TLS.</summary>
public sealed record TeamCertificateRequest
{
    /// <summary>The member the certificate is for; the role is not in the certificate, the agent looks it up on each request.</summary>
    public string? User { get; init; }

    /// <summary>Days the certificate is valid; null takes Agent:DockerTls:ClientCertificateDays.</summary>
    public int? Days { get; init; }
}

/// <summary>A client certificate this agent issued (never its private key, which the agent does not keep).</summary>
public sealed record TeamCertificateInfo
{
    /// <summary>The certificate's serial number, upper-case hex: what revocation names.</summary>
    public required string Serial { get; init; }

    public required string Team { get; init; }

    public required string User { get; init; }

    public required DateTimeOffset NotBefore { get; init; }

    public required DateTimeOffset NotAfter { get; init; }

    /// <summary>The certificate's SHA-256 fingerprint, upper-case hex.</summary>
    public required string Thumbprint { get; init; }

    /// <summary>When it was revoked; null while it is valid.</summary>
    public DateTimeOffset? RevokedAt { get; init; }
}

/// <summary>
/// A newly issued certificate with what the docker CLI needs (the files `docker --tlsverify --tlscacert ca.pem
/// --tlscert cert.pem --tlskey key.pem` takes). The private key is in this answer only: the agent keeps no copy.
/// </summary>
public sealed record TeamCertificateIssued
{
    public required TeamCertificateInfo Certificate { get; init; }

    /// <summary>The agent's docker CA (ca.pem): the client checks the listener's certificate against it.</summary>
    public required string CaPem { get; init; }

    /// <summary>The client certificate (cert.pem).</summary>
    public required string CertPem { get; init; }

    /// <summary>The client's private key (key.pem, PKCS#8).</summary>
    public required string KeyPem { get; init; }

    /// <summary>The listener's address for DOCKER_HOST ("tcp://host:2376"); null while Agent:DockerTls:Listen is off.</summary>
    public string? DockerHost { get; init; }
}
