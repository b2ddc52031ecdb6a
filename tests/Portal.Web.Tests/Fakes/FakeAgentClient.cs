using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.Tests.Fakes;

/// <summary>
/// A hand-written agent client: tests push batches and host info into its channels, drop its connection, make calls
/// fail with the agent's errors, and read which calls the portal made.
/// </summary>
public sealed class FakeAgentClient(AgentEndpoint endpoint) : IAgentClient
{
    private readonly Channel<ChangeBatch<ContainerView>> _containers = Channel.CreateUnbounded<ChangeBatch<ContainerView>>();
    private readonly Channel<ChangeBatch<ComputeSystemInfo>> _computeSystems = Channel.CreateUnbounded<ChangeBatch<ComputeSystemInfo>>();
    private readonly Channel<HostInfo> _host = Channel.CreateUnbounded<HostInfo>();

    public AgentEndpoint Endpoint { get; } = endpoint;

    public event Func<Exception?, Task>? Closed;

    /// <summary>Thrown by ConnectAsync when set.</summary>
    public Exception? ConnectError { get; set; }

    public bool Connected { get; private set; }

    public bool Disposed { get; private set; }

    /// <summary>Every call as "Method arg1 arg2".</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>Makes the named method (for example "StopContainer") throw this.</summary>
    public ConcurrentDictionary<string, Exception> Failures { get; } = new();

    /// <summary>Holds the named method until the test releases it (to see progress while it runs).</summary>
    public ConcurrentDictionary<string, TaskCompletionSource> Gates { get; } = new();

    public Dictionary<string, ContainerStatistics> Statistics { get; } = [];

    public List<ImageInfo> Images { get; } = [];

    public List<LogEntry> LogEntries { get; } = [];

    /// <summary>The host's switches; CreateSwitch adds to it, RemoveSwitch removes from it.</summary>
    public List<SwitchInfo> Switches { get; } = [];

    /// <summary>The last spec CreateContainer received.</summary>
    public ContainerCreateSpec? LastCreateSpec { get; private set; }

    public IsolationView? Isolation { get; set; }

    public void Push(ChangeBatch<ContainerView> batch) => _containers.Writer.TryWrite(batch);

    public void Push(ChangeBatch<ComputeSystemInfo> batch) => _computeSystems.Writer.TryWrite(batch);

    public void Push(HostInfo info) => _host.Writer.TryWrite(info);

    /// <summary>The connection drops, as when the agent stops.</summary>
    public Task DropAsync(string message = "connection reset") => Closed?.Invoke(new IOException(message)) ?? Task.CompletedTask;

    public Task ConnectAsync(CancellationToken ct)
    {
        Record("Connect");
        if (ConnectError is { } e)
        {
            throw e;
        }

        Connected = true;
        return Task.CompletedTask;
    }

    public IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersAsync(CancellationToken ct) => _containers.Reader.ReadAllAsync(ct);

    public IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsAsync(CancellationToken ct) => _computeSystems.Reader.ReadAllAsync(ct);

    public IAsyncEnumerable<HostInfo> SubscribeHostAsync(CancellationToken ct) => _host.Reader.ReadAllAsync(ct);

    public async IAsyncEnumerable<ContainerEvent> SubscribeEventsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        yield break;
    }

    public async IAsyncEnumerable<IsolationView> SubscribeProcessesAsync(string container, [EnumeratorCancellation] CancellationToken ct)
    {
        await RunAsync("SubscribeProcesses", container);
        if (Isolation is { } view)
        {
            yield return view;
        }

        await Task.Delay(Timeout.Infinite, ct);
    }

    public async IAsyncEnumerable<LogEntry> LogsAsync(string container, int? tail, bool follow, [EnumeratorCancellation] CancellationToken ct)
    {
        await RunAsync("Logs", container, tail, follow);
        foreach (var entry in LogEntries)
        {
            yield return entry;
        }

        if (follow)
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
    }

    /// <summary>The containers REST would list now (tests fill it; the portal itself follows SubscribeContainersAsync).</summary>
    public List<ContainerView> Containers { get; } = [];

    public List<ComputeSystemInfo> ComputeSystems { get; } = [];

    /// <summary>Processes by container id, for GetProcesses.</summary>
    public Dictionary<string, IReadOnlyList<ContainerProcessInfo>> Processes { get; } = [];

    public async Task<IReadOnlyList<ContainerView>> ListContainersAsync(CancellationToken ct)
    {
        await RunAsync("ListContainers");
        return [.. Containers];
    }

    public async Task<ContainerView> GetContainerAsync(string container, CancellationToken ct)
    {
        await RunAsync("GetContainer", container);
        return Containers.FirstOrDefault(v => v.Container.Id.StartsWith(container, StringComparison.Ordinal) || v.Container.Name == container)
            ?? throw new AgentException("ContainerNotFound", $"No such container: '{container}'.", 404);
    }

    public async Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string container, CancellationToken ct)
    {
        await RunAsync("GetProcesses", container);
        return Processes.TryGetValue(container, out var processes) ? processes : throw new AgentException("ContainerNotFound", $"No such container: '{container}'.", 404);
    }

    public async Task<IReadOnlyList<ComputeSystemInfo>> ListComputeSystemsAsync(CancellationToken ct)
    {
        await RunAsync("ListComputeSystems");
        return [.. ComputeSystems];
    }

    public async Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct)
    {
        await RunAsync("CreateContainer", spec.Name, spec.Image, spec.RuntimeType);
        LastCreateSpec = spec;
        return Views.Info(spec.Name ?? "created", ContainerState.Created, spec.RuntimeType ?? RuntimeType.Default) with { Image = spec.Image };
    }

    public async Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct)
    {
        await RunAsync("StartContainer", container);
        return Views.Info(container, ContainerState.Running);
    }

    public async Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct)
    {
        await RunAsync("StopContainer", container);
        return Views.Info(container, ContainerState.Stopped);
    }

    public Task KillContainerAsync(string container, int signal, CancellationToken ct) => RunAsync("KillContainer", container, signal);

    public async Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct)
    {
        await RunAsync("TerminateContainer", container);
        return Views.Info(container, ContainerState.Stopped);
    }

    public async Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct)
    {
        await RunAsync("RestartContainer", container);
        return Views.Info(container, ContainerState.Running);
    }

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) => RunAsync("RemoveContainer", container, force);

    public async Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct)
    {
        progress?.Report(new OperationStep(1, 1, $"Converting {container} to {runtimeType}"));
        await RunAsync("ConvertContainer", container, runtimeType, restart);
        return Views.Info(container, restart ? ContainerState.Running : ContainerState.Stopped, runtimeType);
    }

    public IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        throw new NotSupportedException("The fake has no exec.");

    public IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) =>
        throw new NotSupportedException("The fake has no attach.");

    public async Task<HostInfo> GetHostAsync(CancellationToken ct)
    {
        await RunAsync("GetHost");
        return Views.Host("fake");
    }

    public async Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct)
    {
        await RunAsync("GetHostProcesses", match);
        return [];
    }

    public async Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct)
    {
        await RunAsync("GetStatistics", container);
        return Statistics.TryGetValue(container, out var s) ? s : throw new AgentException("ContainerNotFound", $"No such container: '{container}'.");
    }

    public async Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct)
    {
        await RunAsync("GetAllStatistics");
        return new Dictionary<string, ContainerStatistics>(Statistics);
    }

    public async Task<IReadOnlyList<ImageInfo>> ListImagesAsync(CancellationToken ct)
    {
        await RunAsync("ListImages");
        return [.. Images];
    }

    public Task<ImageInfo> PullImageAsync(ImagePullRequest request, IProgress<ImagePullUpdate>? progress, CancellationToken ct) =>
        throw new NotSupportedException("Pulls are not part of the fake.");

    public async Task<IReadOnlyList<ImageInfo>> ImportImageAsync(Stream archive, long? length, string? tag, IProgress<long>? progress, CancellationToken ct)
    {
        var buffer = new byte[4096];
        long total = 0;
        int read;
        while ((read = await archive.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            progress?.Report(total);
        }

        await RunAsync("ImportImage", tag, total);
        var image = new ImageInfo { Id = $"sha256:{total:x12}", Tags = tag is null ? [] : [tag], SizeBytes = total, CreatedAt = DateTimeOffset.UnixEpoch, Layers = [] };
        Images.Add(image);
        return [image];
    }

    public Task RemoveImageAsync(string image, CancellationToken ct) => RunAsync("RemoveImage", image);

    public async Task<IReadOnlyList<SwitchInfo>> ListSwitchesAsync(CancellationToken ct)
    {
        await RunAsync("ListSwitches");
        lock (Switches)
        {
            return [.. Switches];
        }
    }

    /// <summary>The list now, then again after every CreateSwitch, RemoveSwitch or <see cref="NotifySwitches"/>.</summary>
    public async IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await RunAsync("SubscribeSwitches");
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        void OnChanged() => wake.Writer.TryWrite(true);
        SwitchesChanged += OnChanged;
        try
        {
            do
            {
                List<SwitchInfo> now;
                lock (Switches)
                {
                    now = [.. Switches];
                }

                yield return now;
            }
            while (await wake.Reader.WaitToReadAsync(ct) && wake.Reader.TryRead(out _));
        }
        finally
        {
            SwitchesChanged -= OnChanged;
        }
    }

    /// <summary>Tells switch subscribers that <see cref="Switches"/> changed (as another client's change would).</summary>
    public void NotifySwitches() => SwitchesChanged?.Invoke();

    private event Action? SwitchesChanged;

    public async Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct)
    {
        await RunAsync("CreateSwitch", spec.Name, spec.Type, spec.Subnet);
        var created = Views.Switch(spec.Name, spec.Type, spec.Subnet ?? "10.89.9.0/24");
        lock (Switches)
        {
            Switches.Add(created);
        }

        NotifySwitches();

        return created;
    }

    public async Task RemoveSwitchAsync(string name, CancellationToken ct)
    {
        await RunAsync("RemoveSwitch", name);
        lock (Switches)
        {
            Switches.RemoveAll(s => s.Name == name);
        }

        NotifySwitches();
    }

    /// <summary>The teams pushed to this agent by name (PutTeam adds or replaces, RemoveTeam removes).</summary>
    public ConcurrentDictionary<string, TeamInfo> Teams { get; } = new();

    /// <summary>What GetTeamUsage answers by team; a team without an entry answers NotFound (an agent without usage).</summary>
    public ConcurrentDictionary<string, TeamUsage> TeamUsages { get; } = new();

    /// <summary>The docker contexts issued (team, user, context name), in order.</summary>
    public ConcurrentQueue<(string Team, string User, string Context)> IssuedContexts { get; } = new();

    public async Task<TeamInfo> PutTeamAsync(TeamInfo team, CancellationToken ct)
    {
        await RunAsync("PutTeam", team.Name);
        Teams[team.Name] = team;
        return team;
    }

    public async Task<IReadOnlyList<TeamInfo>> ListTeamsAsync(CancellationToken ct)
    {
        await RunAsync("ListTeams");
        return [.. Teams.Values];
    }

    public async Task RemoveTeamAsync(string team, CancellationToken ct)
    {
        await RunAsync("RemoveTeam", team);
        Teams.TryRemove(team, out _);
    }

    public async Task<byte[]> IssueDockerContextAsync(string team, string user, string context, CancellationToken ct)
    {
        await RunAsync("IssueDockerContext", team);
        IssuedContexts.Enqueue((team, user, context));
        return System.Text.Encoding.UTF8.GetBytes($"context {context} for {user}");
    }

    public async Task<TeamUsage> GetTeamUsageAsync(string team, CancellationToken ct)
    {
        await RunAsync("GetTeamUsage", team);
        return TeamUsages.TryGetValue(team, out var usage) ? usage : throw new AgentException("NotFound", "No usage endpoint.", 404);
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        _containers.Writer.TryComplete();
        _computeSystems.Writer.TryComplete();
        _host.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    private void Record(string method, params object?[] args) =>
        Calls.Enqueue(string.Join(' ', new[] { method }.Concat(args.Select(a => a?.ToString() ?? "null"))));

    private async Task RunAsync(string method, params object?[] args)
    {
        Record(method, args);
        if (Gates.TryGetValue(method, out var gate))
        {
            await gate.Task;
        }

        if (Failures.TryGetValue(method, out var e))
        {
            throw e;
        }
    }
}

/// <summary>Hands out a new fake per connection attempt and keeps them, so tests can reach the current one.</summary>
public sealed class FakeAgentClientFactory : IAgentClientFactory
{
    private readonly ConcurrentQueue<FakeAgentClient> _created = new();

    /// <summary>Adjusts each new client before the portal uses it (for example: make it refuse to connect).</summary>
    public Action<FakeAgentClient>? Configure { get; set; }

    public IReadOnlyList<FakeAgentClient> Created => [.. _created];

    public FakeAgentClient Latest(string display) => _created.Last(c => c.Endpoint.Display == display);

    public IAgentClient Create(AgentEndpoint endpoint)
    {
        var client = new FakeAgentClient(endpoint);
        Configure?.Invoke(client);
        _created.Enqueue(client);
        return client;
    }
}
