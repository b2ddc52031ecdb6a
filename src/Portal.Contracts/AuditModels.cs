namespace Portal.Contracts;

/// <summary>Whether a rule let an action run: allowed, denied (it did not run), or warned (it ran; a rule in warn mode objected).</summary>
public enum AuditDecision
{
    Allowed,
    Denied,
    Warned,
}

/// <summary>What came of an action: it succeeded, it failed (the error says why), or it never ran (denied).</summary>
public enum AuditResult
{
    Ok,
    Failed,
    NotRun,
}

/// <summary>How an action reached the agent.</summary>
public enum AuditEntryPoint
{
    /// <summary>The REST API (/api), by a client not recognised as one of the below.</summary>
    Rest,

    /// <summary>The SignalR hub (/hubs/agent), by a client not recognised as one of the below.</summary>
    Hub,

    /// <summary>The docker-compatible socket.</summary>
    Docker,

    /// <summary>The PowerShell module (REST or hub; recognised by its User-Agent).</summary>
    PowerShell,

    /// <summary>The portal (REST or hub; recognised by its User-Agent).</summary>
    Portal,

    /// <summary>The agent itself (docker's --rm auto-removal).</summary>
    Agent,

    /// <summary>The docker API over TCP with mutual TLS (Agent:DockerTls): a team member's client certificate.</summary>
    DockerTls,
}

/// <summary>Who acted.</summary>
public enum AuditActorKind
{
    /// <summary>An API key (its id and name; never its secret).</summary>
    ApiKey,

    /// <summary>A process on the agent's local socket (its uid).</summary>
    LocalSocket,

    /// <summary>A process on the docker socket (its uid).</summary>
    DockerSocket,

    /// <summary>The agent on its own behalf.</summary>
    Agent,

    /// <summary>A caller that did not authenticate (a failed sign-in).</summary>
    Anonymous,

    /// <summary>A team member's docker client certificate (its serial and user; never its key).</summary>
    ClientCertificate,

    /// <summary>A user of the portal (the portal's own trail: sign-ins, sign-outs, password and user changes).</summary>
    PortalUser,
}

/// <summary>The actor of an audit entry; <see cref="Name"/> is what to show ("key ci (1a2b3c4d)", "root (uid 0) via docker socket").</summary>
public sealed record AuditActor
{
    public required AuditActorKind Kind { get; init; }

    public required string Name { get; init; }

    public string? KeyId { get; init; }

    public string? KeyName { get; init; }

    /// <summary>The peer's uid on a unix socket (SO_PEERCRED).</summary>
    public int? Uid { get; init; }
}

/// <summary>What an action was aimed at: the host, the kind of object, its id and its name (either may be unknown).</summary>
public sealed record AuditTarget
{
    public required string Host { get; init; }

    /// <summary>container, image, switch, key or agent.</summary>
    public required string Type { get; init; }

    public string? Id { get; init; }

    public string? Name { get; init; }
}

/// <summary>
/// One entry of the agent's audit trail: a state-changing action or a failed sign-in, from any entry point. Entries are
/// numbered without gaps per agent (<see cref="Sequence"/>), so a collector asks for those after the last it has.
/// </summary>
public sealed record AuditEntry
{
    /// <summary>
    /// Whether an action (<c>container.create</c>) matches a filter: the whole action or either half (<c>container</c>,
    /// <c>create</c>), in any case. The agent's <c>GET /api/audit?action=</c> and the portal's Audit page filter alike.
    /// </summary>
    public static bool MatchesAction(string action, string filter)
    {
        if (string.Equals(action, filter, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var dot = action.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && (string.Equals(action[..dot], filter, StringComparison.OrdinalIgnoreCase) || string.Equals(action[(dot + 1)..], filter, StringComparison.OrdinalIgnoreCase));
    }

    public long Sequence { get; init; }

    /// <summary>When it was recorded (UTC), after the action ended.</summary>
    public DateTimeOffset Time { get; init; }

    public required AuditActor Actor { get; init; }

    /// <summary>The team the actor acted for; null until teams exist.</summary>
    public string? Team { get; init; }

    /// <summary>The user an administrator key acted for (the portal names its user); null until teams exist.</summary>
    public string? User { get; init; }

    public required AuditEntryPoint EntryPoint { get; init; }

    /// <summary>The caller's address: "ip:port" over TCP, "unix:&lt;socket&gt;" on a local socket.</summary>
    public string? Source { get; init; }

    /// <summary>"&lt;type&gt;.&lt;verb&gt;": container.create, container.remove, image.import, switch.create, key.rotate, auth.sign-in ...</summary>
    public required string Action { get; init; }

    public AuditTarget? Target { get; init; }

    /// <summary>The isolation asked for (create: null is the host's default; convert: the target).</summary>
    public RuntimeType? RequestedIsolation { get; init; }

    /// <summary>The isolation the container got.</summary>
    public RuntimeType? EffectiveIsolation { get; init; }

    public AuditDecision Decision { get; init; }

    /// <summary>The rule that decided (scope, authentication; later team roles, quotas and isolation policies).</summary>
    public string? Rule { get; init; }

    /// <summary>Why the rule decided so (for denials and warnings).</summary>
    public string? Reason { get; init; }

    public AuditResult Result { get; init; }

    /// <summary>"Code: message" when the action failed.</summary>
    public string? Error { get; init; }

    /// <summary>A few facts about the action (image, signal, force, the executable of an exec); never secrets or environment values.</summary>
    public IReadOnlyDictionary<string, string>? Details { get; init; }
}

/// <summary>
/// A page of audit entries in sequence order. <see cref="Next"/> is the <c>after</c> of the next page when more entries
/// matched; <see cref="LastSequence"/> is the newest entry recorded at all (a collector's high-water mark).
/// </summary>
public sealed record AuditPage(IReadOnlyList<AuditEntry> Entries, long? Next, long LastSequence);
