using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Bench.Shared;

namespace Portal.Bench.Hub;

public sealed record HubFanoutOptions
{
    public int Containers { get; init; } = 200;
    public int Subscribers { get; init; } = 50;
    public int Events { get; init; } = 100;
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(75);
    public int SetupParallelism { get; init; } = 4;
    public double GoalP95Ms { get; init; } = 100;
    /// <summary>Sparse, so its size costs nothing until written; small keeps 200 of them modest.</summary>
    public long ScratchDiskBytes { get; init; } = 256L << 20;
    public required string AgentDll { get; init; }
}

/// <summary>
/// Issue 4's benchmark: the real agent with N running containers and M hub subscribers; containers are stopped and
/// started one at a time, and each transition is timed from the agent raising it to the last subscriber receiving it.
/// </summary>
public static class HubFanoutBenchmark
{
    private const string Definition =
        "t0 = `ContainerEvent.At`, which the compute service stamps as it hands the event to the hub's fan-out (read from a " +
        "separate `SubscribeEvents` connection; the transition is matched to each subscriber's upsert by container id, state and " +
        "its StartedAt/FinishedAt). t1 = the bench's clock when the subscriber's `ChangeBatch` carrying that upsert came out of " +
        "its SignalR stream. Agent and bench run on one machine, so both clocks are the same system clock. \"All\" is t1 of the " +
        "last of the subscribers minus t0. Measured: the Stopped event of a terminate and the Started event of a start " +
        "(Stopping is skipped: within one batch the hub keeps only a container's latest state).";

    public static async Task<HubFanoutReport> RunAsync(HubFanoutOptions options, TextWriter log, CancellationToken ct)
    {
        TestSandbox.RequireRoot();
        var sandbox = new TestSandbox();
        log.WriteLine($"Sandbox {sandbox.Tag}: state {sandbox.StateRoot}, run {sandbox.RunRoot}, cgroup parent {sandbox.CgroupParent}");
        var agent = new AgentProcess(sandbox, options.AgentDll);
        HttpClient? client = null;
        EventClock? clock = null;
        var subscribers = new List<HubSubscriber>();
        HubFanoutReport? report = null;
        try
        {
            await agent.StartAsync(options.ScratchDiskBytes, ct);
            client = agent.CreateClient();
            var host = await AgentProcess.GetAsync<HostInfo>(client, "api/host", ct);
            log.WriteLine($"Agent {agent.Pid} on {agent.BaseAddress} ({host.ProcessRuntime.Name} {host.ProcessRuntime.Version})");

            var (containers, setup) = await CreateContainersAsync(client, options, log, ct);

            var connect = Stopwatch.StartNew();
            clock = new EventClock(agent);
            await clock.StartAsync(ct);
            for (var i = 0; i < options.Subscribers; i++)
            {
                subscribers.Add(new HubSubscriber(i, agent));
            }

            await Task.WhenAll(subscribers.Select(s => s.StartAsync(ct)));
            var snapshots = await Task.WhenAll(subscribers.Select(s => s.Snapshot)).WaitAsync(TimeSpan.FromSeconds(60), ct);
            connect.Stop();
            if (snapshots.Any(n => n != containers.Count))
            {
                throw new InvalidOperationException($"A snapshot did not hold the {containers.Count} containers: {string.Join(", ", snapshots.Distinct())}.");
            }

            log.WriteLine($"{options.Subscribers} subscribers connected, each with a snapshot of {containers.Count} containers, in {connect.Elapsed.TotalSeconds:0.00} s");
            await Task.Delay(TimeSpan.FromSeconds(1), ct); // let the server side of every subscription settle

            var commands = await GenerateEventsAsync(client, containers, options, log, ct);
            await WaitForArrivalsAsync(commands, clock, subscribers, TimeSpan.FromSeconds(15), ct);
            report = Measure(options, host, setup with { SubscribersSeconds = Math.Round(connect.Elapsed.TotalSeconds, 2) }, commands, clock, subscribers);
        }
        finally
        {
            var teardown = Stopwatch.StartNew();
            log.WriteLine("Cleaning up ...");
            foreach (var subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }

            if (clock is not null)
            {
                await clock.DisposeAsync();
            }

            if (client is not null)
            {
                await RemoveAllAsync(client, options.SetupParallelism, log);
                client.Dispose();
            }

            await agent.DisposeAsync();
            sandbox.Clean();
            var leftovers = sandbox.Leftovers();
            teardown.Stop();
            log.WriteLine(leftovers.Count == 0
                ? $"Cleaned up in {teardown.Elapsed.TotalSeconds:0.0} s: no processes, mounts, loop devices, cgroups or directories left."
                : $"Clean-up LEFT: {string.Join("; ", leftovers)}");
            if (report is not null)
            {
                report = report with { TeardownSeconds = Math.Round(teardown.Elapsed.TotalSeconds, 1), Leftovers = leftovers };
            }
        }

        return report ?? throw new InvalidOperationException("The run ended without a report.");
    }

    private static async Task<(IReadOnlyList<string> Ids, SetupTimes Setup)> CreateContainersAsync(HttpClient client, HubFanoutOptions options, TextWriter log, CancellationToken ct)
    {
        var ids = new string[options.Containers];
        var times = new double[options.Containers];
        var done = 0;
        var total = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, options.Containers), new ParallelOptions { MaxDegreeOfParallelism = options.SetupParallelism, CancellationToken = ct }, async (i, token) =>
        {
            var one = Stopwatch.StartNew();
            var spec = new ContainerCreateSpec { Image = "busybox", Name = $"hub-fanout-{i:000}", Command = ["sleep", "3600"] };
            var created = await AgentProcess.PostAsync<ContainerInfo>(client, "api/containers", spec, token);
            ids[i] = created.Id;
            var started = await AgentProcess.PostAsync<ContainerInfo>(client, $"api/containers/{created.Id}/start", null, token);
            if (started.State != ContainerState.Running)
            {
                throw new InvalidOperationException($"Container {created.Name} is {started.State} after start.");
            }

            times[i] = one.Elapsed.TotalMilliseconds;
            var n = Interlocked.Increment(ref done);
            if (n % 25 == 0)
            {
                log.WriteLine($"  {n}/{options.Containers} containers running ({total.Elapsed.TotalSeconds:0.0} s)");
            }
        });
        total.Stop();
        log.WriteLine($"{options.Containers} containers created and started in {total.Elapsed.TotalSeconds:0.0} s, {options.SetupParallelism} at a time");
        return (ids, new SetupTimes
        {
            ContainersSeconds = Math.Round(total.Elapsed.TotalSeconds, 1),
            Parallelism = options.SetupParallelism,
            CreateStartPerContainer = LatencyDistribution.Of(times),
            SubscribersSeconds = 0,
        });
    }

    /// <summary>Terminates a container, starts it again, moves on to the next one: one command at a time, paced.</summary>
    private static async Task<IReadOnlyList<IssuedCommand>> GenerateEventsAsync(HttpClient client, IReadOnlyList<string> containers, HubFanoutOptions options, TextWriter log, CancellationToken ct)
    {
        var issued = new List<IssuedCommand>();
        for (var i = 0; i < options.Events; i++)
        {
            var id = containers[(i / 2) % containers.Count];
            var terminate = i % 2 == 0;
            var sent = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            var info = await AgentProcess.PostAsync<ContainerInfo>(client, $"api/containers/{id}/{(terminate ? "terminate" : "start")}", null, ct);
            watch.Stop();
            var answered = sent + watch.Elapsed;
            var transition = ContainerTransition.Of(info)
                ?? throw new InvalidOperationException($"Container {info.Name} is {info.State} after {(terminate ? "terminate" : "start")}; expected {(terminate ? "Stopped" : "Running")}.");
            issued.Add(new IssuedCommand(i, transition, info.Name, watch.Elapsed.TotalMilliseconds, answered));
            if ((i + 1) % 20 == 0)
            {
                log.WriteLine($"  {i + 1}/{options.Events} events");
            }

            await Task.Delay(options.Interval, ct);
        }

        return issued;
    }

    private static async Task WaitForArrivalsAsync(IReadOnlyList<IssuedCommand> commands, EventClock clock, IReadOnlyList<HubSubscriber> subscribers, TimeSpan limit, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (commands.All(c => clock.TryGetRaisedAt(c.Transition, out _) && subscribers.All(s => s.TryGetArrival(c.Transition, out _))))
            {
                return;
            }

            await Task.Delay(100, ct);
        }
    }

    private static HubFanoutReport Measure(HubFanoutOptions options, HostInfo host, SetupTimes setup, IReadOnlyList<IssuedCommand> commands, EventClock clock, IReadOnlyList<HubSubscriber> subscribers)
    {
        var samples = new List<EventSample>();
        var perSubscriber = subscribers.Select(_ => new List<double>()).ToArray();
        var incomplete = 0;
        foreach (var command in commands)
        {
            if (!clock.TryGetRaisedAt(command.Transition, out var raised))
            {
                incomplete++;
                continue;
            }

            var arrivals = new List<HubSubscriber.Arrival>(subscribers.Count);
            foreach (var subscriber in subscribers)
            {
                if (subscriber.TryGetArrival(command.Transition, out var arrival))
                {
                    arrivals.Add(arrival);
                    perSubscriber[subscriber.Number].Add((arrival.Received - raised).TotalMilliseconds);
                }
            }

            if (arrivals.Count < subscribers.Count)
            {
                incomplete++;
                continue;
            }

            var last = arrivals.MaxBy(a => a.Received);
            samples.Add(new EventSample
            {
                Index = command.Index,
                Container = command.Name,
                Kind = command.Transition.Kind.ToString(),
                RaisedAt = raised,
                AllMs = Percentiles.Round((last.Received - raised).TotalMilliseconds),
                FirstMs = Percentiles.Round((arrivals.Min(a => a.Received) - raised).TotalMilliseconds),
                AgentBatchedMs = Percentiles.Round((arrivals.Max(a => a.BatchAt) - raised).TotalMilliseconds),
                AllFromStateStampMs = Percentiles.Round((last.Received - command.Transition.StampedAt).TotalMilliseconds),
                CommandMs = Percentiles.Round(command.RoundTripMs),
                AllAfterCommandAnswerMs = Percentiles.Round((last.Received - command.Answered).TotalMilliseconds),
            });
        }

        if (samples.Count == 0)
        {
            var failures = subscribers.Where(s => s.Failure is not null).Select(s => $"subscriber {s.Number}: {s.Failure!.Message}").Append(clock.Failure is null ? null : $"clock: {clock.Failure.Message}").OfType<string>();
            throw new InvalidOperationException($"No event reached every subscriber. {string.Join("; ", failures)}");
        }

        var subscriberSummaries = subscribers.Select(s =>
        {
            var sorted = perSubscriber[s.Number].Order().ToArray();
            return sorted.Length == 0
                ? new SubscriberSummary(s.Number, null, null, 0, s.Batches)
                : new SubscriberSummary(s.Number, Percentiles.Round(Percentiles.Of(sorted, 0.95)), Percentiles.Round(sorted[^1]), sorted.Length, s.Batches);
        }).ToList();
        var all = LatencyDistribution.Of(samples.Select(e => e.AllMs).ToList());
        return new HubFanoutReport
        {
            Date = DateTimeOffset.UtcNow,
            Host = new HostSummary
            {
                Hostname = host.Hostname,
                OperatingSystem = host.OperatingSystem,
                Kernel = host.Kernel,
                Cpus = host.Cpus,
                CgroupMode = host.CgroupMode,
                Dotnet = RuntimeInformation.FrameworkDescription,
                Runtime = $"{host.ProcessRuntime.Name} ({host.ProcessRuntime.Version})",
                AgentVersion = host.Version,
            },
            Containers = options.Containers,
            Subscribers = options.Subscribers,
            EventsRequested = options.Events,
            EventsMeasured = samples.Count,
            EventsIncomplete = incomplete,
            IntervalMs = options.Interval.TotalMilliseconds,
            Definition = Definition,
            Setup = setup,
            AllReceived = all,
            FirstReceived = LatencyDistribution.Of(samples.Select(e => e.FirstMs).ToList()),
            AgentBatched = LatencyDistribution.Of(samples.Select(e => e.AgentBatchedMs).ToList()),
            AllReceivedFromStateStamp = LatencyDistribution.Of(samples.Select(e => e.AllFromStateStampMs).ToList()),
            PerSubscriberP95 = LatencyDistribution.Of(subscriberSummaries.Where(s => s.P95Ms is not null).Select(s => s.P95Ms!.Value).ToList()),
            Command = LatencyDistribution.Of(samples.Select(e => e.CommandMs).ToList()),
            GoalP95Ms = options.GoalP95Ms,
            GoalMet = incomplete == 0 && all.P95Ms <= options.GoalP95Ms,
            TeardownSeconds = 0,
            Leftovers = [],
            PerSubscriber = subscriberSummaries,
            Events = samples,
        };
    }

    /// <summary>Every container the agent knows, removed with force (SIGKILL first), a few at a time; failures are logged, not thrown.</summary>
    private static async Task RemoveAllAsync(HttpClient client, int parallelism, TextWriter log)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            var containers = await AgentProcess.GetAsync<List<ContainerView>>(client, "api/containers", limit.Token);
            var failed = 0;
            await Parallel.ForEachAsync(containers, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = limit.Token }, async (view, token) =>
            {
                using var response = await client.DeleteAsync($"api/containers/{view.Container.Id}?force=true", token);
                if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotFound))
                {
                    Interlocked.Increment(ref failed);
                    log.WriteLine($"  removing {view.Container.Name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(token)}");
                }
            });
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Removed {containers.Count - failed} of {containers.Count} containers through the API"));
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException)
        {
            log.WriteLine($"Removing the containers through the API failed ({e.Message}); the sandbox clean-up takes over.");
        }
    }

    private sealed record IssuedCommand(int Index, ContainerTransition Transition, string Name, double RoundTripMs, DateTimeOffset Answered);
}
