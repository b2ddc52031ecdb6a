namespace Portal.Docker;

/// <summary>The Docker-Engine-API-compatible listeners (read from the "Agent" section, beside the agent's own listeners).</summary>
public sealed record DockerApiOptions
{
    /// <summary>The unix socket the docker CLI talks to (DOCKER_HOST=unix://...); empty turns the docker API off.</summary>
    public string DockerSocket { get; init; } = "/run/portal/docker.sock";

    /// <summary>A group whose members may use the docker socket, like dockerd's "docker" group; empty for root only.</summary>
    public string DockerSocketGroup { get; init; } = "";

    /// <summary>The optional TCP listener with mutual TLS for team members' client certificates (Agent:DockerTls); off by default.</summary>
    public Tls.DockerTlsOptions DockerTls { get; init; } = new();
}
