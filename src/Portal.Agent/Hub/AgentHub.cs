using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Portal.Agent.Auth;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Compute.Registry;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Hub;

/// <summary>The typed hub every client (portal, scripts) uses: snapshot-plus-changes subscriptions, commands, exec and attach.</summary>
[Authorize(Policy = AgentPolicies.Read)]
public sealed class AgentHub(IComputeHost compute, ContainerFeed feed, AuditLog audit) : Microsoft.AspNetCore.SignalR.Hub, IAgentHub
{
    private static readonly TimeSpan ProcessRefresh = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan HostRefresh = TimeSpan.FromSeconds(5);

    public IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainers(CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeContainersCore(cancellationToken), cancellationToken);

    private async IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        using var subscription = feed.Subscribe();
        yield return new ChangeBatch<ContainerView>(true, service.Containers.ListContainers().Select(c => Upsert(c.Id, ContainerCommands.View(c))).ToList(), DateTimeOffset.UtcNow);
        await foreach (var batch in subscription.ReadBatchesAsync(cancellationToken).ConfigureAwait(false))
        {
            // Only the latest state of each container matters within a batch.
            var changes = batch.GroupBy(e => e.Container.Id).Select(g => g.Last())
                .Select(e => e.Kind == ContainerEventKind.Removed
                    ? new Change<ContainerView>(ChangeKind.Delete, e.Container.Id, null)
                    : Upsert(e.Container.Id, ContainerCommands.View(e.Container)))
                .ToList();
            yield return new ChangeBatch<ContainerView>(false, changes, DateTimeOffset.UtcNow);
        }
    }

    public IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystems(CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeComputeSystemsCore(cancellationToken), cancellationToken);

    private async IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        using var subscription = feed.Subscribe();
        var known = service.HostProcesses.EnumerateComputeSystems().ToDictionary(s => s.Id);
        yield return new ChangeBatch<ComputeSystemInfo>(true, known.Values.Select(s => Upsert(s.Id, s)).ToList(), DateTimeOffset.UtcNow);
        await foreach (var batch in subscription.ReadBatchesAsync(cancellationToken).ConfigureAwait(false))
        {
            var changes = new List<Change<ComputeSystemInfo>>();
            foreach (var id in batch.Select(e => e.Container.Id).Distinct())
            {
                // A container's systems: itself, and its utility VM while one runs.
                var now = service.HostProcesses.EnumerateComputeSystems(new ComputeSystemQuery { Ids = [id] }).Where(s => s.Id == id || s.Id == id + "@vm").ToDictionary(s => s.Id);
                foreach (var gone in known.Keys.Where(k => (k == id || k == id + "@vm") && !now.ContainsKey(k)).ToList())
                {
                    known.Remove(gone);
                    changes.Add(new Change<ComputeSystemInfo>(ChangeKind.Delete, gone, null));
                }

                foreach (var system in now.Values)
                {
                    known[system.Id] = system;
                    changes.Add(Upsert(system.Id, system));
                }
            }

            yield return new ChangeBatch<ComputeSystemInfo>(false, changes, DateTimeOffset.UtcNow);
        }
    }

    public IAsyncEnumerable<HostInfo> SubscribeHost(CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeHostCore(cancellationToken), cancellationToken);

    private async IAsyncEnumerable<HostInfo> SubscribeHostCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var host = compute;
        using var subscription = feed.Subscribe();
        var last = "";
        var batches = subscription.ReadBatchesAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        var next = batches.MoveNextAsync().AsTask();
        while (!cancellationToken.IsCancellationRequested)
        {
            var info = host.GetHostInfo();
            var json = JsonSerializer.Serialize(info);
            if (json != last)
            {
                last = json;
                yield return info;
            }

            // Refresh on any container change, or every few seconds for capacity.
            if (await Task.WhenAny(next, Task.Delay(HostRefresh, cancellationToken)).ConfigureAwait(false) == next)
            {
                if (!await next.ConfigureAwait(false))
                {
                    yield break;
                }

                next = batches.MoveNextAsync().AsTask();
            }
        }
    }

    public IAsyncEnumerable<ContainerEvent> SubscribeEvents(CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeEventsCore(cancellationToken), cancellationToken);

    private async IAsyncEnumerable<ContainerEvent> SubscribeEventsCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var subscription = feed.Subscribe();
        await foreach (var batch in subscription.ReadBatchesAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var change in batch)
            {
                yield return change;
            }
        }
    }

    public IAsyncEnumerable<IsolationView> SubscribeProcesses(string container, CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeProcessesCore(container, Context.User ?? new System.Security.Claims.ClaimsPrincipal(), cancellationToken), cancellationToken);

    private async IAsyncEnumerable<IsolationView> SubscribeProcessesCore(string container, System.Security.Claims.ClaimsPrincipal user, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        while (!cancellationToken.IsCancellationRequested)
        {
            IsolationView view;
            try
            {
                view = await service.HostProcesses.GetIsolationViewAsync(container, cancellationToken).ConfigureAwait(false);
            }
            catch (ComputeException e) when (e.Code == ComputeErrorCode.InvalidTransition)
            {
                yield break; // it stopped: nothing more to show
            }

            yield return HostProcessVisibility.For(view, user);
            await Task.Delay(ProcessRefresh, cancellationToken).ConfigureAwait(false);
        }
    }

    public IAsyncEnumerable<LogEntry> Logs(string container, int? tail, bool follow, CancellationToken cancellationToken) =>
        HubErrors.Guard(LogsCore(container, tail, follow, cancellationToken), cancellationToken);

    private async IAsyncEnumerable<LogEntry> LogsCore(string container, int? tail, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        await foreach (var entry in service.Containers.ReadLogsAsync(container, tail, follow, cancellationToken).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<ContainerInfo> CreateContainer(ContainerCreateSpec spec) => await compute.Containers.CreateContainerAsync(spec, Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<ContainerCreateResult> CreateContainerWithWarnings(ContainerCreateSpec spec)
    {
        using var warnings = PolicyWarnings.Collect();
        var container = await compute.Containers.CreateContainerAsync(spec, Context.ConnectionAborted);
        return new ContainerCreateResult { Container = container, Warnings = warnings.Items };
    }

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<ContainerInfo> StartContainer(string container) => await compute.Containers.StartContainerAsync(container, Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<ContainerInfo> StopContainer(string container, double? timeoutSeconds) =>
        await compute.Containers.ShutdownContainerAsync(container, StopTimeout.FromSeconds(timeoutSeconds), Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task KillContainer(string container, int signal) => await compute.Containers.KillContainerAsync(container, signal, Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<ContainerInfo> RestartContainer(string container, double? timeoutSeconds) =>
        await compute.Containers.RestartContainerAsync(container, StopTimeout.FromSeconds(timeoutSeconds), Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task RemoveContainer(string container, bool force) => await compute.Containers.RemoveContainerAsync(container, force, Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public IAsyncEnumerable<ConversionUpdate> ConvertContainer(string container, RuntimeType runtimeType, bool restart, CancellationToken cancellationToken) =>
        HubErrors.Guard(ConvertContainerCore(container, runtimeType, restart, cancellationToken), cancellationToken);

    private IAsyncEnumerable<ConversionUpdate> ConvertContainerCore(string container, RuntimeType runtimeType, bool restart, CancellationToken cancellationToken)
    {
        var service = compute;
        return StepsOf<ConversionUpdate>(async report =>
        {
            using var warnings = PolicyWarnings.Collect();
            var converted = await service.Containers.ConvertContainerAsync(container, runtimeType, restart,
                new SynchronousProgress<OperationStep>(s => report(new ConversionUpdate(s, null))), cancellationToken).ConfigureAwait(false);
            report(new ConversionUpdate(null, converted, warnings.Items));
        });
    }

    [Authorize(Policy = AgentPolicies.Operate)]
    public IAsyncEnumerable<ImagePullUpdate> PullImage(ImagePullRequest request, CancellationToken cancellationToken) =>
        HubErrors.Guard(PullImageCore(request, cancellationToken), cancellationToken);

    private IAsyncEnumerable<ImagePullUpdate> PullImageCore(ImagePullRequest request, CancellationToken cancellationToken)
    {
        var service = compute;
        var credential = string.IsNullOrEmpty(request.Username) || string.IsNullOrEmpty(request.Password)
            ? null
            : new RegistryCredential(request.Username, request.Password);
        return StepsOf<ImagePullUpdate>(async report =>
        {
            var image = await service.Images.PullAsync(request.Reference, null, credential,
                new SynchronousProgress<PullProgress>(p => report(new ImagePullUpdate(p.Id, p.Status, p.Current, p.Total))), cancellationToken).ConfigureAwait(false);
            report(new ImagePullUpdate(null, "Pulled", Image: ComputeEndpoints.ImageView(image)));
        });
    }

    /// <summary>
    /// Runs an operation that reports its steps and streams each as it comes; the operation runs to its end even when the
    /// caller stops reading, and its failure ends the stream with it.
    /// </summary>
    private static async IAsyncEnumerable<T> StepsOf<T>(Func<Action<T>, Task> operation)
    {
        var steps = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });
        var run = Task.Run(async () =>
        {
            try
            {
                await operation(step => steps.Writer.TryWrite(step)).ConfigureAwait(false);
                steps.Writer.TryComplete();
            }
            catch (Exception e)
            {
                steps.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        await foreach (var step in steps.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            yield return step;
        }

        await run.ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SwitchInfo>> ListSwitches() => compute.Switches.ListSwitches();

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task<SwitchInfo> CreateSwitch(SwitchCreateSpec spec) => await compute.Switches.CreateSwitchAsync(spec, Context.ConnectionAborted);

    [Authorize(Policy = AgentPolicies.Operate)]
    public async Task RemoveSwitch(string name) => await compute.Switches.RemoveSwitchAsync(name, Context.ConnectionAborted);

    public IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitches(CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeSwitchesCore(cancellationToken), cancellationToken);

    private async IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        void OnSwitches() => wake.Writer.TryWrite(true);
        void OnContainer(ContainerEvent _) => wake.Writer.TryWrite(true);
        service.Switches.SwitchesChanged += OnSwitches;
        service.Containers.Changed += OnContainer;
        try
        {
            var last = "";
            while (!cancellationToken.IsCancellationRequested)
            {
                var switches = service.Switches.ListSwitches();
                var json = JsonSerializer.Serialize(switches);
                if (json != last)
                {
                    last = json;
                    yield return switches;
                }

                await wake.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            service.Switches.SwitchesChanged -= OnSwitches;
            service.Containers.Changed -= OnContainer;
        }
    }

    [Authorize(Policy = AgentPolicies.Operate)]
    public IAsyncEnumerable<ProcessOutput> Exec(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, CancellationToken cancellationToken) =>
        HubErrors.Guard(ExecCore(container, start, input, cancellationToken), cancellationToken);

    private async IAsyncEnumerable<ProcessOutput> ExecCore(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        await using var process = await service.Containers.ExecAsync(container, ProcessStreams.Spec(start), cancellationToken).ConfigureAwait(false);
        var output = ProcessStreams.OutputChannel();
        _ = ProcessStreams.PumpInputAsync(input, process.StandardInput, (c, r) => { process.Resize(c, r); return Task.CompletedTask; }, cancellationToken);
        _ = ProcessStreams.PumpOutputAsync(process, output.Writer, cancellationToken);
        await foreach (var item in output.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }

        yield return new ProcessOutput { ExitCode = await process.WaitAsync(cancellationToken).ConfigureAwait(false) };
    }

    [Authorize(Policy = AgentPolicies.Operate)]
    public IAsyncEnumerable<ProcessOutput> Attach(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken cancellationToken) =>
        HubErrors.Guard(AttachCore(container, input, cancellationToken), cancellationToken);

    private async IAsyncEnumerable<ProcessOutput> AttachCore(string container, IAsyncEnumerable<ProcessInput> input, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var service = compute;
        var info = service.Containers.GetContainer(container);
        await using var attachment = await service.Containers.AttachAsync(container, includeEarlierOutput: true, stdin: info.OpenStdin, cancellationToken).ConfigureAwait(false);
        _ = ProcessStreams.PumpInputAsync(input, attachment.Stdin, (c, r) => attachment.ResizeAsync(c, r, cancellationToken), cancellationToken);
        await foreach (var entry in attachment.Output.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return new ProcessOutput { Stream = entry.Stream, Data = Encoding.UTF8.GetBytes(entry.Text) };
        }

        yield return new ProcessOutput { ExitCode = (await service.Containers.WaitAsync(container, cancellationToken).ConfigureAwait(false)).ExitCode };
    }

    [Authorize(Policy = AgentPolicies.Admin)]
    public IAsyncEnumerable<AuditEntry> SubscribeAudit(long? after, CancellationToken cancellationToken) =>
        HubErrors.Guard(SubscribeAuditCore(after, cancellationToken), cancellationToken);

    private async IAsyncEnumerable<AuditEntry> SubscribeAuditCore(long? after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (after is < 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"after={after} is not a sequence: use 0 (from the start), the last sequence you have, or null for new entries only.");
        }

        var log = audit;
        // Subscribed before reading what came earlier, so nothing falls between; the sequence drops what both hold.
        using var subscription = log.Subscribe();
        var last = after ?? log.LastSequence;
        if (after is not null)
        {
            while (true)
            {
                var page = log.Read(new AuditQuery { After = last, Limit = AuditQuery.MaxLimit });
                foreach (var entry in page.Entries)
                {
                    yield return entry;
                    last = entry.Sequence;
                }

                if (page.Next is null)
                {
                    break;
                }
            }
        }

        await foreach (var entry in subscription.Entries.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (entry.Sequence > last)
            {
                last = entry.Sequence;
                yield return entry;
            }
        }
    }

    private static Change<T> Upsert<T>(string key, T item) => new(ChangeKind.Upsert, key, item);
}
