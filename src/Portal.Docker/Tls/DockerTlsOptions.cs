namespace Portal.Docker.Tls;

/// <summary>
/// The docker API over TCP with mutual TLS (section "Agent:DockerTls"): off until <see cref="Listen"/> is set. Clients
/// present a certificate the agent issued to a team member (POST /api/teams/{team}/certificates).
/// </summary>
public sealed record DockerTlsOptions
{
    /// <summary>The address and port to listen on ("0.0.0.0:2376", "[::]:2376", "127.0.0.1:2376"); empty is off.</summary>
    public string Listen { get; init; } = "";

    /// <summary>
    /// More names and addresses for the listener's certificate (its subject alternative names) beyond localhost, the
    /// host's name, 127.0.0.1, ::1 and the listen address: whatever clients put in DOCKER_HOST.
    /// </summary>
    public IReadOnlyList<string> Names { get; init; } = [];

    /// <summary>
    /// The host:port written into downloaded docker contexts; empty: the first of <see cref="Names"/> (else the host's
    /// name) with the listen port.
    /// </summary>
    public string PublicAddress { get; init; } = "";

    /// <summary>An operator's CA certificate (PEM) to issue with instead of the agent's own; needs <see cref="CaKey"/>.</summary>
    public string CaCertificate { get; init; } = "";

    /// <summary>The private key (PEM) of <see cref="CaCertificate"/>.</summary>
    public string CaKey { get; init; } = "";

    /// <summary>How long a client certificate is valid unless the request says otherwise (1 to 825 days).</summary>
    public int ClientCertificateDays { get; init; } = 90;
}
