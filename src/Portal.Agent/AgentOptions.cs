namespace Portal.Agent;

/// <summary>The agent's listeners (appsettings.json section "Agent").</summary>
public sealed record AgentOptions
{
    /// <summary>HTTP listener: health and host info (the full API arrives with per-agent keys).</summary>
    public string Url { get; init; } = "http://127.0.0.1:5081";

    /// <summary>The local API socket; authorized by its ownership (root, plus SocketGroup), mode 0660.</summary>
    public string Socket { get; init; } = "/run/portal/agent.sock";

    /// <summary>A group whose members may use the socket, like dockerd's "docker" group; empty for root only.</summary>
    public string SocketGroup { get; init; } = "";

    /// <summary>The audit trail's files and retention (Agent:Audit).</summary>
    public Portal.Compute.Audit.AuditLogOptions Audit { get; init; } = new();
}
