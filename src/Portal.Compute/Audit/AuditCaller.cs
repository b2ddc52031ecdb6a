using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>
/// Who is calling and how, as only the entry point knows it (the key or socket peer, the listener, the source address).
/// Each entry point sets <see cref="Current"/> for the work it does for a request (the agent's REST and hub middleware,
/// the docker socket's); <see cref="AuditedComputeHost"/> reads it when it records what the request did.
/// </summary>
public sealed record AuditCaller
{
    private static readonly AsyncLocal<AuditCaller?> Ambient = new();

    public required AuditActor Actor { get; init; }

    public required AuditEntryPoint EntryPoint { get; init; }

    public string? Source { get; init; }

    /// <summary>The acting team (a team key's, or the one an administrator key names); null for administrators.</summary>
    public string? Team { get; init; }

    /// <summary>The user an administrator key acts for; null otherwise.</summary>
    public string? User { get; init; }

    /// <summary>The caller's role in <see cref="Team"/>; set whenever Team is.</summary>
    public Portal.Contracts.TeamRole? Role { get; init; }

    /// <summary>The caller of the code running now (this async flow); null outside any request.</summary>
    public static AuditCaller? Current
    {
        get => Ambient.Value;
        set => Ambient.Value = value;
    }

    /// <summary>The agent acting on its own (docker's --rm auto-removal): <paramref name="what"/> says which part.</summary>
    public static AuditCaller Agent(string what, AuditEntryPoint entryPoint = AuditEntryPoint.Agent) => new()
    {
        Actor = new AuditActor { Kind = AuditActorKind.Agent, Name = $"agent ({what})" },
        EntryPoint = entryPoint,
    };

    /// <summary>Work with no caller set: the agent itself.</summary>
    public static AuditCaller Unknown { get; } = Agent("internal");
}
