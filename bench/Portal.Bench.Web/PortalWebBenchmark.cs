using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Playwright;
using Portal.Bench.Shared;
using Portal.Client;
using Portal.Contracts;

namespace Portal.Bench.Web;

public sealed record PortalWebOptions
{
    public int Containers { get; init; } = 500;
    public int Circuits { get; init; } = 50;
    public int Events { get; init; } = 60;
    public int SetupParallelism { get; init; } = 4;
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Whether the browser that holds the other circuits' pages runs in the background (an idle cpu cgroup). In a
    /// deployment every user's browser runs on that user's computer; here all of them share the portal host's 2 CPUs, so
    /// by default they use only what the portal, the agent and the watched page leave. False: all at the same priority.
    /// </summary>
    public bool BackgroundLoad { get; init; } = true;
}

/// <summary>
/// The real agent and the real portal as processes, N running busybox containers, and Chromium: the time from the agent
/// raising a container event to the containers grid showing it in a browser, with 1 and then with C circuits open, and
/// the portal's memory per circuit.
/// </summary>
public static class PortalWebBenchmark
{
    private const string Password = "Bench-Portal-Password-1!";

    /// <summary>The rows the events touch: the first ones by name, so the (virtualized) grid has them in its DOM.</summary>
    private const int Targets = 8;

    public static async Task<PortalWebReport> RunAsync(PortalWebOptions options, TextWriter log, CancellationToken ct)
    {
        TestSandbox.RequireRoot();
        var sandbox = new TestSandbox("portal-bench-web");
        var agent = new AgentProcess(sandbox);
        PortalProcess? portal = null;
        IPlaywright? playwright = null;
        IBrowser? browser = null;
        IBrowser? loadBrowser = null;
        // Under the sandbox's cgroup parent, so its clean-up (and Leftovers) covers it like the containers' cgroups.
        var loadCgroup = Path.Combine("/sys/fs/cgroup/cpu", sandbox.CgroupParent, "load-browsers");
        var report = new PortalWebReport { Options = options, StartedAt = DateTimeOffset.UtcNow, LoadAtStart = Load() };
        try
        {
            await agent.StartAsync();
            report = report with { Host = await agent.GetAsync<HostInfo>("api/host") };
            report = report with { Setup = await CreateContainersAsync(agent, options, log, ct) };

            portal = new PortalProcess(sandbox, agent.SocketPath);
            await portal.StartAsync();
            (playwright, browser) = await PortalBrowser.LaunchAsync();
            string state;
            await using (var first = await browser.NewContextAsync(new() { BaseURL = portal.Url }))
            {
                await PortalBrowser.FirstSignInAsync(await first.NewPageAsync(), portal, Password);
                state = await first.StorageStateAsync();
            }

            var contexts = new List<IBrowserContext>();
            var watched = await OpenGridAsync(browser, portal, state, contexts);
            loadBrowser = await LaunchLoadBrowserAsync(playwright, sandbox, options.BackgroundLoad ? loadCgroup : null);
            var clock = new DomClock(watched);
            await clock.InstallAsync();
            await using var events = new AgentEvents(AgentEndpoint.Parse($"unix://{agent.SocketPath}", null));
            await events.StartAsync(ct);

            await Task.Delay(TimeSpan.FromSeconds(5), ct); // the statistics sampler's first rounds, the JIT
            var baseline = MemorySample.Of(portal.Pid);
            log.WriteLine($"1 circuit: portal RSS {baseline.RssBytes / 1048576.0:0} MiB; measuring {options.Events} events ...");
            var one = await MeasureEventsAsync(agent, clock, events, options, report.Setup.Created, log, ct);

            var opening = Stopwatch.StartNew();
            string? circuitsFailure = null;
            while (contexts.Count < options.Circuits && circuitsFailure is null)
            {
                try
                {
                    await OpenGridAsync(loadBrowser, portal, state, contexts);
                }
                catch (TimeoutException e)
                {
                    // The machine cannot serve more: measure with the circuits that came up, and say so.
                    circuitsFailure = $"circuit {contexts.Count} did not show the grid within 180 s ({e.Message.Split('\n')[0]})";
                    await contexts[^1].CloseAsync();
                    contexts.RemoveAt(contexts.Count - 1);
                    log.WriteLine($"  {circuitsFailure}; going on with {contexts.Count}");
                }
            }

            opening.Stop();
            await Task.Delay(TimeSpan.FromSeconds(10), ct);
            var loaded = MemorySample.Of(portal.Pid);
            log.WriteLine($"{contexts.Count} circuits (opened in {opening.Elapsed.TotalSeconds:0.0} s): portal RSS {loaded.RssBytes / 1048576.0:0} MiB; measuring {options.Events} events ...");
            var many = await MeasureEventsAsync(agent, clock, events, options, report.Setup.Created, log, ct);
            var after = MemorySample.Of(portal.Pid);

            return report with
            {
                OneCircuit = one,
                ManyCircuits = many,
                MemoryOneCircuit = baseline,
                MemoryManyCircuits = loaded,
                MemoryAfterEvents = after,
                CircuitsOpened = contexts.Count,
                CircuitsOpenSeconds = opening.Elapsed.TotalSeconds,
                CircuitsFailure = circuitsFailure,
                LoadAtEnd = Load(),
            };
        }
        finally
        {
            var teardown = Stopwatch.StartNew();
            foreach (var open in new[] { loadBrowser, browser })
            {
                if (open is not null)
                {
                    await open.CloseAsync();
                }
            }

            playwright?.Dispose();
            if (portal is not null)
            {
                await portal.DisposeAsync();
            }

            await agent.DisposeAsync();
            sandbox.Clean();
            var left = sandbox.Leftovers();
            log.WriteLine(left.Count == 0 ? $"Cleaned up in {teardown.Elapsed.TotalSeconds:0.0} s: nothing left." : $"LEFT OVER: {string.Join("; ", left)}");
            if (left.Count > 0)
            {
                throw new InvalidOperationException($"The bench left things behind: {string.Join("; ", left)}");
            }
        }
    }

    /// <summary>
    /// A second Chromium for the other circuits. Given a <paramref name="cgroup"/>, it runs in that cpu cgroup marked idle
    /// (cpu.idle: its processes get a CPU only when nothing else wants one), standing in for browsers on other computers;
    /// every process it starts stays in that cgroup.
    /// </summary>
    private static async Task<IBrowser> LaunchLoadBrowserAsync(IPlaywright playwright, TestSandbox sandbox, string? cgroup)
    {
        var options = PortalBrowser.LaunchOptions;
        if (cgroup is not null)
        {
            Directory.CreateDirectory(cgroup);
            await File.WriteAllTextAsync(Path.Combine(cgroup, "cpu.idle"), "1");
            Directory.CreateDirectory(sandbox.TempRoot);
            var wrapper = Path.Combine(sandbox.TempRoot, "chromium-idle");
            await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\necho $$ > {cgroup}/cgroup.procs || exit 1\nexec {PortalBrowser.Chromium} \"$@\"\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            options.ExecutablePath = wrapper;
        }

        return await playwright.Chromium.LaunchAsync(options);
    }

    /// <summary>N `sleep` containers under process isolation; stops at the first failure and says how many fit.</summary>
    private static async Task<SetupResult> CreateContainersAsync(AgentProcess agent, PortalWebOptions options, TextWriter log, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var created = 0;
        string? failure = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, options.Containers), new ParallelOptions { MaxDegreeOfParallelism = options.SetupParallelism, CancellationToken = stop.Token }, async (i, token) =>
            {
                try
                {
                    var container = await agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec
                    {
                        Name = Name(i),
                        Image = "busybox:latest",
                        RuntimeType = RuntimeType.Default,
                        Command = ["sleep", "3600"],
                    });
                    await agent.PostAsync<ContainerInfo>($"api/containers/{container.Id}/start");
                    if (Interlocked.Increment(ref created) % 50 == 0)
                    {
                        log.WriteLine($"  {created} containers running ({clock.Elapsed.TotalSeconds:0} s)");
                    }
                }
                catch (HttpRequestException e)
                {
                    failure ??= e.Message;
                    await stop.CancelAsync();
                }
            });
        }
        catch (OperationCanceledException) when (failure is not null && !ct.IsCancellationRequested)
        {
        }

        if (created < Targets)
        {
            throw new InvalidOperationException($"Only {created} containers could run: {failure}");
        }

        return new SetupResult(options.Containers, created, clock.Elapsed.TotalSeconds, failure);
    }

    private static string Name(int i) => $"bench-{i:D4}";

    private static string Load() => string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>A new signed-in context with the containers grid, once it lists every container.</summary>
    private static async Task<IPage> OpenGridAsync(IBrowser browser, PortalProcess portal, string state, List<IBrowserContext> contexts)
    {
        var context = await browser.NewContextAsync(new() { BaseURL = portal.Url, StorageState = state, ViewportSize = new ViewportSize { Width = 1440, Height = 900 } });
        context.SetDefaultTimeout(180_000);
        contexts.Add(context);
        var page = await context.NewPageAsync();
        await PortalBrowser.OpenAsync(page, "/");
        await page.Locator("tr.container-row", new() { HasText = Name(0) }).WaitForAsync();
        return page;
    }

    private static async Task<EventLatencies> MeasureEventsAsync(AgentProcess agent, DomClock clock, AgentEvents events, PortalWebOptions options, int containers, TextWriter log, CancellationToken ct)
    {
        var latencies = new List<double>();
        var missed = 0;
        var ids = (await agent.GetAsync<Portal.Contracts.Hub.ContainerView[]>("api/containers"))
            .Where(v => string.CompareOrdinal(v.Container.Name, Name(Math.Min(Targets, containers))) < 0)
            .ToDictionary(v => v.Container.Name, v => v.Container.Id);
        for (var i = 0; i < options.Events; i++)
        {
            ct.ThrowIfCancellationRequested();
            var name = Name(i % Targets);
            var running = await clock.StateAsync(name) == nameof(ContainerState.Running);
            var target = running ? ContainerState.Stopped : ContainerState.Running;
            events.Drain();
            var shown = await clock.ArmAsync(name, target.ToString());
            await agent.PostAsync<ContainerInfo>($"api/containers/{ids[name]}/{(running ? "terminate" : "start")}");
            var raised = await events.WaitAsync(ids[name], running ? ContainerEventKind.Stopped : ContainerEventKind.Started, TimeSpan.FromSeconds(30), ct);
            var domTask = shown();
            if (raised is null || await Task.WhenAny(domTask, Task.Delay(TimeSpan.FromSeconds(30), ct)) != domTask)
            {
                missed++;
                log.WriteLine($"  event {i}: {name} -> {target} was not {(raised is null ? "raised" : "shown")} within 30 s");
                continue;
            }

            latencies.Add(await domTask - (raised.Value - DateTimeOffset.UnixEpoch).TotalMilliseconds);
            await Task.Delay(options.Interval, ct);
        }

        return EventLatencies.From(latencies, missed);
    }
}

public sealed record SetupResult(int Requested, int Created, double Seconds, string? Failure);

/// <summary>The portal process's resident memory (VmRSS from /proc).</summary>
public sealed record MemorySample(long RssBytes, DateTimeOffset At)
{
    public static MemorySample Of(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        var kib = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return new MemorySample(kib * 1024, DateTimeOffset.UtcNow);
    }
}

public sealed record EventLatencies(int Measured, int Missed, double P50, double P95, double Max, double Min, IReadOnlyList<double> Samples)
{
    public static EventLatencies From(List<double> samples, int missed)
    {
        if (samples.Count == 0)
        {
            return new EventLatencies(0, missed, double.NaN, double.NaN, double.NaN, double.NaN, []);
        }

        var sorted = samples.Order().ToList();
        return new EventLatencies(sorted.Count, missed, Percentiles.Round(Percentiles.Median(sorted)), Percentiles.Round(Percentiles.Of(sorted, 0.95)),
            Percentiles.Round(sorted[^1]), Percentiles.Round(sorted[0]), samples.Select(Percentiles.Round).ToList());
    }
}

/// <summary>The agent's event stream (SubscribeEvents through the portal's own client library): the latency's t0.</summary>
public sealed class AgentEvents(AgentEndpoint endpoint) : IAsyncDisposable
{
    private readonly IAgentClient _client = new AgentClientFactory().Create(endpoint);
    private readonly Channel<ContainerEvent> _events = Channel.CreateUnbounded<ContainerEvent>();
    private readonly CancellationTokenSource _stop = new();
    private Task _pump = Task.CompletedTask;

    public async Task StartAsync(CancellationToken ct)
    {
        await _client.ConnectAsync(ct);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pump = Task.Run(async () =>
        {
            var stream = _client.SubscribeEventsAsync(_stop.Token);
            ready.TrySetResult();
            await foreach (var e in stream)
            {
                _events.Writer.TryWrite(e);
            }
        });
        await ready.Task;
        await Task.Delay(500, ct); // the subscription is registered on the agent
    }

    /// <summary>Drops events of earlier steps.</summary>
    public void Drain()
    {
        while (_events.Reader.TryRead(out _))
        {
        }
    }

    /// <summary>When the agent raised <paramref name="kind"/> for the container, or null if not within the timeout.</summary>
    public async Task<DateTimeOffset?> WaitAsync(string containerId, ContainerEventKind kind, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var e = await _events.Reader.ReadAsync(limit.Token);
                if (e.Container.Id == containerId && e.Kind == kind)
                {
                    return e.At;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _client.DisposeAsync();
        _stop.Dispose();
    }
}
