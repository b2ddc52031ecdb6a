using System.Diagnostics;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Hosts;

namespace Portal.Web.Components.Demo;

/// <summary>What one side of the demo shows: its container, what it is doing now, and the live isolation view.</summary>
public sealed record DemoSide
{
    public required RuntimeType RuntimeType { get; init; }
    public ContainerInfo? Container { get; init; }
    /// <summary>What is under way ("Booting the VM ..."), with its start for the elapsed time; null when idle.</summary>
    public string? Progress { get; init; }
    public DateTimeOffset? ProgressSince { get; init; }
    public IsolationView? View { get; init; }
    public string? Error { get; init; }
    /// <summary>How long the last start took (the VM's boot under VM isolation).</summary>
    public TimeSpan? StartedIn { get; init; }
}

/// <summary>
/// The seed's "is csrss visible on the host" demo on one host: a process-isolated and a VM-isolated container from the
/// same image, each running the same marker process, followed live: the processes inside each (the agent's
/// SubscribeProcesses), and the host's process table filtered to the marker. Under process isolation the host sees the
/// marker with its own PID (NSpid maps it to the PID inside); under VM isolation it sees only the VM worker.
/// The containers are named and labelled so that the demo picks them up again and its reset removes only them.
/// </summary>
public sealed class IsolationDemo(AgentHost host, TimeProvider time) : IAsyncDisposable
{
    public const string LabelKey = "portal.demo";
    public const string LabelValue = "isolation";
    public const string MarkerArgument = "31337";
    public const string DefaultImage = "busybox:latest";

    /// <summary>The marker: the containers' own first process, the same command line in both.</summary>
    public static readonly IReadOnlyList<string> MarkerCommand = ["sleep", MarkerArgument];

    public static readonly TimeSpan HostRefresh = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private CancellationTokenSource? _follow;
    private Task _following = Task.CompletedTask;

    public AgentHost Host { get; } = host;

    public static string Marker => string.Join(' ', MarkerCommand);

    public DemoSide Process { get; private set; } = new() { RuntimeType = RuntimeType.Default };

    public DemoSide Vm { get; private set; } = new() { RuntimeType = RuntimeType.HyperV };

    /// <summary>The host's processes whose command line is the marker's (refreshed every second while following).</summary>
    public IReadOnlyList<HostProcessInfo> HostMarkers { get; private set; } = [];

    public string? HostError { get; private set; }

    /// <summary>The host's view of the VM-isolated container: its VM worker process(es).</summary>
    public IReadOnlyList<HostProcessInfo> VmWorkers => Vm.View?.SeenFromHost.Where(p => p.IsVmWorker).ToList() ?? [];

    public bool IsBusy => Process.Progress is not null || Vm.Progress is not null;

    public bool IsFollowing => _follow is not null;

    /// <summary>Raised (on a background thread) whenever anything shown changed.</summary>
    public event Action? Changed;

    public static string NameFor(RuntimeType runtimeType) => runtimeType == RuntimeType.HyperV ? "isolation-demo-vm" : "isolation-demo-process";

    public static bool IsDemoContainer(ContainerInfo container) =>
        container.Labels.TryGetValue(LabelKey, out var value) && value == LabelValue;

    /// <summary>The demo's containers that already exist on the host (from an earlier run), by runtime type.</summary>
    public IReadOnlyList<ContainerInfo> Existing() =>
        Host.Containers.Values.Select(v => v.Container).Where(IsDemoContainer).OrderBy(c => c.RuntimeType).ToList();

    /// <summary>Creates (or picks) both containers, starts them, then follows them live. Errors show on their side.</summary>
    public async Task RunAsync(string image)
    {
        image = string.IsNullOrWhiteSpace(image) ? DefaultImage : image.Trim();
        var client = Host.Client; // a clear AgentUnreachable when the host is not connected
        var started = await Task.WhenAll(
            EnsureRunningAsync(client, RuntimeType.Default, image, _stop.Token),
            EnsureRunningAsync(client, RuntimeType.HyperV, image, _stop.Token));
        await FollowAsync(started.OfType<ContainerInfo>().ToList());
    }

    /// <summary>Follows the demo's containers that run already (the page opened after an earlier run).</summary>
    public Task FollowAsync() => FollowAsync(Existing().Where(c => c.State == ContainerState.Running).ToList());

    private async Task FollowAsync(IReadOnlyList<ContainerInfo> running)
    {
        await StopFollowingAsync();
        if (running.Count == 0)
        {
            return;
        }

        foreach (var container in running)
        {
            Set(container.RuntimeType, s => s with { Container = container, Error = null });
        }

        var client = Host.Client;
        _follow = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var ct = _follow.Token;
        _following = Task.WhenAll(running.Select(c => FollowContainerAsync(client, c, ct)).Append(FollowHostAsync(client, ct)));
        Raise();
    }

    /// <summary>Removes every container the demo made on this host (force: running ones are stopped first).</summary>
    public async Task ResetAsync()
    {
        await StopFollowingAsync();
        var client = Host.Client;
        var errors = new List<string>();
        foreach (var container in Existing())
        {
            Set(container.RuntimeType, s => s with { Progress = $"Removing {container.Name} ...", ProgressSince = time.GetUtcNow() });
            try
            {
                await client.RemoveContainerAsync(container.Id, force: true, _stop.Token);
            }
            catch (AgentException e)
            {
                errors.Add($"{container.Name}: {e.Message}");
            }
        }

        Process = new DemoSide { RuntimeType = RuntimeType.Default };
        Vm = new DemoSide { RuntimeType = RuntimeType.HyperV };
        HostMarkers = [];
        Raise();
        if (errors.Count > 0)
        {
            throw new AgentException("RuntimeFailure", $"Some demo containers were not removed: {string.Join(" ", errors)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await StopFollowingAsync();
        _stop.Dispose();
    }

    /// <summary>The running container, or null when it could not be made or started (the side shows why).</summary>
    private async Task<ContainerInfo?> EnsureRunningAsync(IAgentClient client, RuntimeType runtimeType, string image, CancellationToken ct)
    {
        var name = NameFor(runtimeType);
        try
        {
            var container = Host.Containers.Values.Select(v => v.Container).FirstOrDefault(c => c.Name == name);
            if (container is not null && !IsDemoContainer(container))
            {
                throw new AgentException("NameInUse", $"A container named '{name}' exists that the demo did not make; rename or remove it first.");
            }

            if (container is not null && container.RuntimeType != runtimeType)
            {
                throw new AgentException("InvalidArgument", $"'{name}' was converted to {container.RuntimeType}; reset the demo to start over.");
            }

            if (container is null)
            {
                Set(runtimeType, s => s with { Progress = $"Creating {name} from {image} ...", ProgressSince = time.GetUtcNow(), Error = null });
                container = await client.CreateContainerAsync(new ContainerCreateSpec
                {
                    Name = name,
                    Image = image,
                    RuntimeType = runtimeType,
                    Command = MarkerCommand,
                    Labels = new Dictionary<string, string> { [LabelKey] = LabelValue },
                }, ct);
            }

            if (container.State != ContainerState.Running)
            {
                var starting = runtimeType == RuntimeType.HyperV
                    ? $"Booting the VM for {name} ({Host.Info?.VmAccelerator?.ToUpperInvariant() ?? "QEMU"}{(Host.Info?.VmAccelerator == "tcg" ? ": software emulation, several seconds" : "")}) ..."
                    : $"Starting {name} ...";
                Set(runtimeType, s => s with { Container = container, Progress = starting, ProgressSince = time.GetUtcNow(), Error = null });
                var clock = Stopwatch.StartNew();
                container = await client.StartContainerAsync(container.Id, ct);
                Set(runtimeType, s => s with { Error = null, View = null, StartedIn = clock.Elapsed });
            }

            Set(runtimeType, s => s with { Container = container, Progress = null, ProgressSince = null });
            return container;
        }
        catch (AgentException e)
        {
            Set(runtimeType, s => s with { Progress = null, ProgressSince = null, Error = e.Message });
            return null;
        }
    }

    private async Task FollowContainerAsync(IAgentClient client, ContainerInfo container, CancellationToken ct)
    {
        try
        {
            await foreach (var view in client.SubscribeProcessesAsync(container.Id, ct))
            {
                Set(container.RuntimeType, s => s with { Container = view.Container, View = view });
            }

            Set(container.RuntimeType, s => s with { View = null, Error = $"{container.Name} is no longer running: run the demo again to start it." });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (AgentException e)
        {
            Set(container.RuntimeType, s => s with { Error = e.Message });
        }
    }

    private async Task FollowHostAsync(IAgentClient client, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(HostRefresh, time);
        try
        {
            do
            {
                try
                {
                    var processes = await client.GetHostProcessesAsync(MarkerArgument, ct);
                    HostMarkers = processes.Where(p => p.CommandLine.Trim() == Marker).OrderBy(p => p.Pid).ToList();
                    HostError = null;
                    Raise();
                }
                catch (AgentException e) when (!ct.IsCancellationRequested)
                {
                    HostError = $"The host's process list failed: {e.Message}";
                    Raise();
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task StopFollowingAsync()
    {
        if (Interlocked.Exchange(ref _follow, null) is { } follow)
        {
            await follow.CancelAsync();
            await _following.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            follow.Dispose();
        }
    }

    private void Set(RuntimeType runtimeType, Func<DemoSide, DemoSide> change)
    {
        if (runtimeType == RuntimeType.HyperV)
        {
            Vm = change(Vm);
        }
        else
        {
            Process = change(Process);
        }

        Raise();
    }

    private void Raise() => Changed?.Invoke();
}
