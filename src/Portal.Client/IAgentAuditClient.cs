using Portal.Contracts;

namespace Portal.Client;

/// <summary>
/// An agent's audit trail (Admin key): pages from <c>GET /api/audit</c> and the hub's live <c>SubscribeAudit</c>. Its own
/// connection, apart from <see cref="IAgentClient"/>, so a collector follows the trail on its own lifetime. Every failure
/// is an <see cref="AgentException"/> (Forbidden when the key is not an Admin key).
/// </summary>
public interface IAgentAuditClient : IAsyncDisposable
{
    AgentEndpoint Endpoint { get; }

    /// <summary>One page: the entries after <paramref name="after"/> that match <paramref name="filter"/>, in sequence order.</summary>
    Task<AuditPage> ReadAsync(AgentAuditFilter filter, long after, int limit, CancellationToken ct);

    /// <summary>Opens the hub connection and streams entries: those kept after <paramref name="after"/> first (none when null), then each new one.</summary>
    IAsyncEnumerable<AuditEntry> SubscribeAsync(long? after, CancellationToken ct);
}

/// <summary>Makes audit clients (a seam for tests).</summary>
public interface IAgentAuditClientFactory
{
    IAgentAuditClient Create(AgentEndpoint endpoint);
}

/// <summary>The filters <c>GET /api/audit</c> applies on the agent (see docs/agent-api.md, "Audit trail").</summary>
public sealed record AgentAuditFilter
{
    public static readonly AgentAuditFilter None = new();

    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }

    /// <summary>Part of the actor's name, key id or key name.</summary>
    public string? Actor { get; init; }

    /// <summary>The whole action ("container.create") or either half.</summary>
    public string? Action { get; init; }

    /// <summary>The target's name or a prefix of its id.</summary>
    public string? Target { get; init; }

    public AuditDecision? Decision { get; init; }

    public AuditEntryPoint? EntryPoint { get; init; }
}
