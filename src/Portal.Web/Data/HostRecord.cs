namespace Portal.Web.Data;

/// <summary>A registered agent: where it is and its API key, protected at rest with ASP.NET Data Protection.</summary>
public sealed class HostRecord
{
    public required string Id { get; set; }

    public required string Name { get; set; }

    /// <summary>http(s)://host:port or unix:///path/agent.sock.</summary>
    public required string Address { get; set; }

    /// <summary>The API key as Data Protection's ciphertext; null for the local socket.</summary>
    public string? ProtectedApiKey { get; set; }

    public DateTimeOffset AddedAt { get; set; }
}
