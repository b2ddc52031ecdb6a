namespace Portal.Contracts.Hub;

public enum ChangeKind
{
    Upsert,
    Delete,
}

/// <summary>One change to a keyed collection: an item added or updated, or a key removed.</summary>
public sealed record Change<T>(ChangeKind Kind, string Key, T? Item);

/// <summary>
/// What a subscription yields: first a snapshot (IsSnapshot, every item as an upsert), then batches of the changes that
/// happened since the previous batch (the Aspire dashboard's contract).
/// </summary>
public sealed record ChangeBatch<T>(bool IsSnapshot, IReadOnlyList<Change<T>> Changes, DateTimeOffset At);

/// <summary>A command the agent advertises for a container, and whether it is possible now (with the reason when not).</summary>
public sealed record ContainerCommand(string Name, string DisplayName, bool Enabled, string? DisabledReason, bool RequiresConfirmation);

public sealed record ContainerView(ContainerInfo Container, IReadOnlyList<ContainerCommand> Commands);

/// <summary>Starts a process in a container over the hub (exec) or REST.</summary>
public sealed record ExecStart
{
    public required IReadOnlyList<string> Command { get; init; }
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool Stdin { get; init; }
    public int Columns { get; init; } = 80;
    public int Rows { get; init; } = 24;
}

/// <summary>Client to agent on an exec or attach stream: input bytes, closing stdin, or a terminal resize.</summary>
public sealed record ProcessInput
{
    public byte[]? Data { get; init; }
    public bool CloseStdin { get; init; }
    public int? Columns { get; init; }
    public int? Rows { get; init; }
}

/// <summary>Agent to client on an exec or attach stream: output bytes; the last message carries the exit code.</summary>
public sealed record ProcessOutput
{
    public LogStream Stream { get; init; }
    public byte[]? Data { get; init; }
    public int? ExitCode { get; init; }
}

/// <summary>The agent hub's methods (route /hubs/agent). Subscriptions are server-to-client streams; exec and attach stream both ways.</summary>
public interface IAgentHub
{
    IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainers(CancellationToken cancellationToken);

    IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystems(CancellationToken cancellationToken);

    /// <summary>Host info and capacity: now, then whenever it changes.</summary>
    IAsyncEnumerable<HostInfo> SubscribeHost(CancellationToken cancellationToken);

    /// <summary>Container events (created, started, converted, stopped with exit code, removed, failed) from now on.</summary>
    IAsyncEnumerable<ContainerEvent> SubscribeEvents(CancellationToken cancellationToken);

    /// <summary>The processes inside a running container and the host's view of them, refreshed while subscribed.</summary>
    IAsyncEnumerable<IsolationView> SubscribeProcesses(string container, CancellationToken cancellationToken);

    IAsyncEnumerable<LogEntry> Logs(string container, int? tail, bool follow, CancellationToken cancellationToken);

    Task<ContainerInfo> CreateContainer(ContainerCreateSpec spec);

    /// <summary>
    /// <see cref="CreateContainer"/> that also answers the warnings the caller's team policy gave the create (Warn mode),
    /// as REST's Warning headers and docker's Warnings do. CreateContainer stays for the clients that predate it.
    /// </summary>
    Task<ContainerCreateResult> CreateContainerWithWarnings(ContainerCreateSpec spec);

    Task<ContainerInfo> StartContainer(string container);

    Task<ContainerInfo> StopContainer(string container, double? timeoutSeconds);

    Task KillContainer(string container, int signal);

    Task<ContainerInfo> RestartContainer(string container, double? timeoutSeconds);

    Task RemoveContainer(string container, bool force);

    /// <summary>Set-Container -RuntimeType: each step as it begins, then the converted container as the last item.</summary>
    IAsyncEnumerable<ConversionUpdate> ConvertContainer(string container, RuntimeType runtimeType, bool restart, CancellationToken cancellationToken);

    /// <summary>Pulls an image from its registry: each step as docker shows it, then the image as the last item.</summary>
    IAsyncEnumerable<ImagePullUpdate> PullImage(ImagePullRequest request, CancellationToken cancellationToken);

    /// <summary>Virtual switches (the built-in none first), each with the containers connected to it.</summary>
    Task<IReadOnlyList<SwitchInfo>> ListSwitches();

    Task<SwitchInfo> CreateSwitch(SwitchCreateSpec spec);

    /// <summary>Removes a switch no container uses.</summary>
    Task RemoveSwitch(string name);

    /// <summary>The switches now, then again whenever a switch or a container's connection changes.</summary>
    IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitches(CancellationToken cancellationToken);

    IAsyncEnumerable<ProcessOutput> Exec(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken cancellationToken);

    IAsyncEnumerable<ProcessOutput> Attach(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken cancellationToken);

    /// <summary>
    /// The audit trail (Admin scope): the entries after <paramref name="after"/> (none when null), then each new entry as it
    /// is recorded, in sequence order and each once. A subscriber that falls far behind is ended; it subscribes again with
    /// the last sequence it has.
    /// </summary>
    IAsyncEnumerable<AuditEntry> SubscribeAudit(long? after, CancellationToken cancellationToken);
}

public enum ApiScope
{
    Read,
    Operate,
    Admin,
}

/// <summary>An API key; a team key (<see cref="Team"/> and <see cref="Role"/> set) acts only within its team, as that role.</summary>
public sealed record ApiKeyInfo(string Id, string Name, ApiScope Scope, DateTimeOffset CreatedAt, DateTimeOffset? RotatedAt, DateTimeOffset? RevokedAt, string? Team = null, TeamRole? Role = null);

/// <summary>A key as created or rotated: the secret is shown this once and stored only as a hash.</summary>
public sealed record ApiKeyCreated(ApiKeyInfo Key, string Secret);

/// <summary>A key to create: a global key by <see cref="Scope"/>, or a team key by <see cref="Team"/> and <see cref="Role"/> (its scope then follows the role).</summary>
public sealed record ApiKeyRequest(string Name, ApiScope Scope, string? Team = null, TeamRole? Role = null);

/// <summary>A created container and the warnings its create got (a team's isolation policy in Warn mode); empty when none.</summary>
public sealed record ContainerCreateResult
{
    public required ContainerInfo Container { get; init; }

    public IReadOnlyList<string> Warnings { get; init; } = [];
}
