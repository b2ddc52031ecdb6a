using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Client;

/// <summary>
/// One connection to one agent: the hub for live state, commands and process streams, REST for uploads, snapshots and
/// what else the hub does not carry. Hub members need <see cref="ConnectAsync"/> first; REST members work without it.
/// Every failure is an <see cref="AgentException"/>. The connection does not reconnect by itself: its owner reconnects
/// (with backoff) and subscribes again for a fresh snapshot, as the streaming contract asks. The portal and the
/// PowerShell module both use it.
/// </summary>
public interface IAgentClient : IAsyncDisposable
{
    AgentEndpoint Endpoint { get; }

    /// <summary>Raised once when an open connection closes (the error, or null when closed on purpose).</summary>
    event Func<Exception?, Task>? Closed;

    /// <summary>Opens the hub connection; throws AgentUnreachable, Unauthorized or Forbidden.</summary>
    Task ConnectAsync(CancellationToken ct);

    IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersAsync(CancellationToken ct);

    IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsAsync(CancellationToken ct);

    IAsyncEnumerable<HostInfo> SubscribeHostAsync(CancellationToken ct);

    IAsyncEnumerable<ContainerEvent> SubscribeEventsAsync(CancellationToken ct);

    IAsyncEnumerable<IsolationView> SubscribeProcessesAsync(string container, CancellationToken ct);

    IAsyncEnumerable<LogEntry> LogsAsync(string container, int? tail, bool follow, CancellationToken ct);

    /// <summary>The containers now, with the commands each allows (REST; one snapshot, where SubscribeContainersAsync follows changes).</summary>
    Task<IReadOnlyList<ContainerView>> ListContainersAsync(CancellationToken ct);

    /// <summary>One container by id, unique id prefix or name (REST); ContainerNotFound when there is none.</summary>
    Task<ContainerView> GetContainerAsync(string container, CancellationToken ct);

    /// <summary>The processes inside a running container now (REST; one snapshot of what SubscribeProcessesAsync follows).</summary>
    Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string container, CancellationToken ct);

    /// <summary>Every container's compute system and the VirtualMachine of each VM-isolated one (REST).</summary>
    Task<IReadOnlyList<ComputeSystemInfo>> ListComputeSystemsAsync(CancellationToken ct);

    Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct);

    /// <summary>
    /// Creates a container and answers the warnings the caller's team policy gave it (Warn mode). Clients that cannot
    /// carry warnings answer none (this default).
    /// </summary>
    async Task<ContainerCreateResult> CreateContainerWithWarningsAsync(ContainerCreateSpec spec, CancellationToken ct) =>
        new() { Container = await CreateContainerAsync(spec, ct).ConfigureAwait(false) };

    Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct);

    Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct);

    Task KillContainerAsync(string container, int signal, CancellationToken ct);

    /// <summary>Stops the container at once (SIGKILL, no grace period) and returns it stopped (REST: the hub has no such call).</summary>
    Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct);

    Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct);

    Task RemoveContainerAsync(string container, bool force, CancellationToken ct);

    /// <summary>Converts the container to <paramref name="runtimeType"/>, reporting each step to <paramref name="progress"/> as it begins.</summary>
    Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct);

    /// <summary>
    /// Converts a container and answers the warnings the caller's team policy gave the conversion (Warn mode). Clients
    /// that cannot carry warnings answer none (this default).
    /// </summary>
    async Task<(ContainerInfo Container, IReadOnlyList<string> Warnings)> ConvertContainerWithWarningsAsync(
        string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct) =>
        (await ConvertContainerAsync(container, runtimeType, restart, progress, ct).ConfigureAwait(false), []);

    /// <summary>Runs a process in the container; output until the last message, which carries the exit code.</summary>
    IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken ct);

    /// <summary>Attaches to the container's first process.</summary>
    IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct);

    Task<HostInfo> GetHostAsync(CancellationToken ct);

    Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct);

    Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct);

    /// <summary>Statistics of every running container on the host by container id, in one call.</summary>
    Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct);

    Task<IReadOnlyList<ImageInfo>> ListImagesAsync(CancellationToken ct);

    /// <summary>Pulls an image from its registry (hub PullImage); progress gets each step, the pulled image is returned.</summary>
    Task<ImageInfo> PullImageAsync(ImagePullRequest request, IProgress<ImagePullUpdate>? progress, CancellationToken ct);

    /// <summary>Uploads an image archive (docker save, OCI layout or a root filesystem tar); progress counts bytes sent.</summary>
    Task<IReadOnlyList<ImageInfo>> ImportImageAsync(Stream archive, long? length, string? tag, IProgress<long>? progress, CancellationToken ct);

    Task RemoveImageAsync(string image, CancellationToken ct);

    /// <summary>The host's virtual switches (the built-in none first), each with the containers connected to it.</summary>
    Task<IReadOnlyList<SwitchInfo>> ListSwitchesAsync(CancellationToken ct);

    /// <summary>The switches now, then again whenever a switch or a container's connection changes.</summary>
    IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesAsync(CancellationToken ct);

    /// <summary>Creates a switch; the agent refuses a taken name (NameInUse) or an overlapping subnet (SubnetOverlap).</summary>
    Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct);

    /// <summary>Removes a switch; the agent refuses one that containers use (SwitchInUse).</summary>
    Task RemoveSwitchAsync(string name, CancellationToken ct);

    /// <summary>Creates or replaces a team whole: members, quota and policy (REST, Admin key).</summary>
    Task<TeamInfo> PutTeamAsync(TeamInfo team, CancellationToken ct);

    /// <summary>The teams the agent holds (REST, Admin key).</summary>
    Task<IReadOnlyList<TeamInfo>> ListTeamsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<TeamInfo>>([]);

    /// <summary>Removes a team (REST, Admin key); a team the agent does not have is not an error.</summary>
    Task RemoveTeamAsync(string team, CancellationToken ct);

    /// <summary>What the team uses on this host against its quota (REST).</summary>
    Task<TeamUsage> GetTeamUsageAsync(string team, CancellationToken ct);

    /// <summary>
    /// Issues a docker client certificate for a member of the team and answers it as a docker context archive for
    /// <c>docker context import</c> (REST, Admin key; the agent's docker TLS listener must be on).
    /// </summary>
    Task<byte[]> IssueDockerContextAsync(string team, string user, string context, CancellationToken ct) =>
        throw new AgentException("NotSupported", "This client cannot issue docker certificates.");
}

/// <summary>Makes clients; the portal's seam for tests, which hand it a fake.</summary>
public interface IAgentClientFactory
{
    IAgentClient Create(AgentEndpoint endpoint);
}
