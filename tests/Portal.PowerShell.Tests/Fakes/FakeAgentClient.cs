using System.Runtime.CompilerServices;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.PowerShell.Tests.Fakes;

/// <summary>One connection to a <see cref="FakeAgent"/>: what the module calls works on the agent's state; the portal's streams are refused.</summary>
public sealed class FakeAgentClient(FakeAgent agent, AgentEndpoint endpoint) : IAgentClient
{
    private static readonly ContainerState[] Startable = [ContainerState.Created, ContainerState.Stopped];

    public AgentEndpoint Endpoint { get; } = endpoint;

    public bool Connected { get; private set; }

    public event Func<Exception?, Task>? Closed;

    /// <summary>The connection drops, as when the agent stops.</summary>
    public Task DropAsync() => Closed?.Invoke(new IOException("connection reset")) ?? Task.CompletedTask;

    public Task ConnectAsync(CancellationToken ct)
    {
        agent.Run("Connect", Endpoint);
        if (agent.ConnectError is { } refused)
        {
            throw refused;
        }

        Connected = true;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ContainerView>> ListContainersAsync(CancellationToken ct) => Call<IReadOnlyList<ContainerView>>(() => [.. agent.Containers.Select(View)]);

    public Task<ContainerView> GetContainerAsync(string container, CancellationToken ct) => Call(() => View(agent.Find(container)), [container]);

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string container, CancellationToken ct) =>
        Call<IReadOnlyList<ContainerProcessInfo>>(() => agent.Processes.TryGetValue(agent.Find(container).Id, out var processes) ? processes : [], [container]);

    public Task<IReadOnlyList<ComputeSystemInfo>> ListComputeSystemsAsync(CancellationToken ct) => Call(agent.ComputeSystems);

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct) => Call(() => agent.Create(spec), [spec.Name, spec.Image, spec.RuntimeType]);

    public Task<ContainerCreateResult> CreateContainerWithWarningsAsync(ContainerCreateSpec spec, CancellationToken ct) =>
        Call(() => new ContainerCreateResult { Container = agent.Create(spec), Warnings = [.. agent.PolicyWarnings] }, [spec.Name, spec.Image, spec.RuntimeType], "CreateContainer");

    public Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct) =>
        Call(() => agent.Transition(container, Startable, ContainerState.Running, "only a created or stopped container starts."), [container]);

    public Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Call(() => agent.Transition(container, [ContainerState.Running], ContainerState.Stopped, "it is not running."), [container, timeoutSeconds]);

    public Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct) =>
        Call(() => agent.Transition(container, [ContainerState.Running], ContainerState.Stopped, "it is not running."), [container]);

    public Task KillContainerAsync(string container, int signal, CancellationToken ct) => Call(() => agent.Find(container), [container, signal]);

    public Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) =>
        Call(() => agent.Replace(agent.Find(container) with { State = ContainerState.Running }), [container, timeoutSeconds]);

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) => Call(() => agent.Remove(container, force), [container, force]);

    public Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct) =>
        Call(() =>
        {
            var found = agent.Find(container);
            if (found.State == ContainerState.Running && !restart)
            {
                throw new AgentException("InvalidTransition", $"Container '{found.Name}' is running: convert it with restart, or stop it first.");
            }

            progress?.Report(new OperationStep(1, 1, $"Converting {found.Name} to {runtimeType}"));
            return agent.Replace(found with { RuntimeType = runtimeType });
        }, [container, runtimeType, restart]);

    public async Task<(ContainerInfo Container, IReadOnlyList<string> Warnings)> ConvertContainerWithWarningsAsync(
        string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct) =>
        (await ConvertContainerAsync(container, runtimeType, restart, progress, ct), [.. agent.PolicyWarnings]);

    public Task<HostInfo> GetHostAsync(CancellationToken ct) => Call(() => new HostInfo
    {
        Hostname = "fake",
        Kernel = "6.1.0-fake",
        OperatingSystem = "Debian GNU/Linux 12",
        Cpus = 2,
        MemoryBytes = 4L << 30,
        CgroupMode = "unified",
        ProcessRuntime = new RuntimeChoice { Name = "crun", Path = "/usr/bin/crun", Version = "1.8", Reason = "fake" },
        VmAcceleratorReason = "fake",
        RuntimeTypes = [RuntimeType.Default, RuntimeType.HyperV],
        Containers = agent.Containers.Count,
        RunningContainers = agent.Containers.Count(c => c.State == ContainerState.Running),
        Images = 1,
        Version = "fake",
    });

    public Task<IReadOnlyList<SwitchInfo>> ListSwitchesAsync(CancellationToken ct) => Call<IReadOnlyList<SwitchInfo>>(() => [.. agent.Switches]);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct) => Call(() =>
    {
        if (agent.Switches.Any(s => s.Name == spec.Name))
        {
            throw new AgentException("NameInUse", $"A switch named '{spec.Name}' exists.");
        }

        var created = new SwitchInfo { Id = $"sw-{spec.Name}", Name = spec.Name, Type = spec.Type, Subnet = spec.Subnet ?? "10.89.7.0/24" };
        agent.Switches.Add(created);
        return created;
    }, [spec.Name, spec.Type, spec.Subnet]);

    public Task RemoveSwitchAsync(string name, CancellationToken ct) => Call(() =>
    {
        if (agent.Containers.Any(c => c.SwitchName == name))
        {
            throw new AgentException("SwitchInUse", $"Switch '{name}' has containers: remove them first.");
        }

        agent.Switches.RemoveAll(s => s.Name == name);
    }, [name]);

    // Teams are the portal's; the cmdlets do not manage them.
    public Task<TeamInfo> PutTeamAsync(TeamInfo team, CancellationToken ct) => throw new NotSupportedException();

    public Task RemoveTeamAsync(string team, CancellationToken ct) => throw new NotSupportedException();

    public Task<TeamUsage> GetTeamUsageAsync(string team, CancellationToken ct) => throw new NotSupportedException();

    public ValueTask DisposeAsync()
    {
        Connected = false;
        return ValueTask.CompletedTask;
    }

    // What the portal uses and the module does not: refused, so a cmdlet that starts using one shows up here.
    public IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<HostInfo> SubscribeHostAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ContainerEvent> SubscribeEventsAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<IsolationView> SubscribeProcessesAsync(string container, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<LogEntry> LogsAsync(string container, int? tail, bool follow, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct) => throw Refused();

    public Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ImageInfo>> ListImagesAsync(CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ImageInfo>> ImportImageAsync(Stream archive, long? length, string? tag, IProgress<long>? progress, CancellationToken ct) => throw Refused();

    public Task<ImageInfo> PullImageAsync(ImagePullRequest request, IProgress<ImagePullUpdate>? progress, CancellationToken ct) => throw Refused();

    public Task RemoveImageAsync(string image, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesAsync(CancellationToken ct) => throw Refused();

    private static ContainerView View(ContainerInfo c) => new(c, [new ContainerCommand("start", "Start", c.State != ContainerState.Running, null, false)]);

    private static NotSupportedException Refused([CallerMemberName] string method = "") => new($"The module does not use {method}; the fake agent has none.");

    /// <summary>One call on the agent: recorded, failed when the test says so, and refused before ConnectAsync (as the hub would be).</summary>
    private Task<T> Call<T>(Func<T> work, object?[]? args = null, [CallerMemberName] string method = "") => Task.Run(() =>
    {
        if (!Connected)
        {
            throw new InvalidOperationException("The module called the agent before connecting.");
        }

        agent.Run(method.Replace("Async", "", StringComparison.Ordinal), args ?? []);
        return work();
    });

    private Task Call(Action work, object?[]? args = null, [CallerMemberName] string method = "") => Call(() =>
    {
        work();
        return true;
    }, args, method);
}
