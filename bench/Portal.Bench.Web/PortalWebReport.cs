using System.Globalization;
using System.Text;
using Portal.Contracts;

namespace Portal.Bench.Web;

public sealed record PortalWebReport
{
    public const double GoalP95Ms = 250;

    public required PortalWebOptions Options { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public HostInfo? Host { get; init; }
    public SetupResult Setup { get; init; } = new(0, 0, 0, null);
    public EventLatencies? OneCircuit { get; init; }
    public EventLatencies? ManyCircuits { get; init; }
    public MemorySample? MemoryOneCircuit { get; init; }
    public MemorySample? MemoryManyCircuits { get; init; }
    public MemorySample? MemoryAfterEvents { get; init; }
    /// <summary>/proc/loadavg when the run started and when it ended: the machine is shared, and this says how busy it was.</summary>
    public string? LoadAtStart { get; init; }
    public string? LoadAtEnd { get; init; }
    public int CircuitsOpened { get; init; }
    public double CircuitsOpenSeconds { get; init; }

    /// <summary>Why fewer circuits than asked for were measured, when that happened.</summary>
    public string? CircuitsFailure { get; init; }

    /// <summary>What each circuit beyond the first added to the portal's resident memory.</summary>
    public double? MemoryPerCircuitMiB => MemoryOneCircuit is { } one && MemoryManyCircuits is { } many && CircuitsOpened > 1
        ? Math.Round((many.RssBytes - one.RssBytes) / 1048576.0 / (CircuitsOpened - 1), 2)
        : null;

    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.AppendLine("# Portal: from an agent event to the browser's DOM, and memory per circuit").AppendLine();
        s.AppendLine(c, $"- Date: {StartedAt:yyyy-MM-dd HH:mm:ss} UTC");
        if (Host is { } h)
        {
            s.AppendLine(c, $"- Host: {h.OperatingSystem}, kernel {h.Kernel}, {h.Cpus} CPUs, cgroup {h.CgroupMode}; OCI runtime {h.ProcessRuntime.Name}; agent {h.Version}; .NET {Environment.Version}");
        }

        s.AppendLine(c, $"- Processes: the real agent and the real portal (Release, ASPNETCORE_ENVIRONMENT=Development so the build output serves wwwroot), each its own process, and Debian's Chromium (headless, Playwright), all on this machine's {Environment.ProcessorCount} CPUs. The watched page has a Chromium of its own at normal priority; the other circuits' pages share a second Chromium{(Options.BackgroundLoad ? " in an idle cpu cgroup (cpu.idle=1): in a deployment each user's browser runs on that user's computer, not on the portal's host, so here they get a CPU only when the portal, the agent and the watched page leave one; they still receive and apply every render batch, and the portal renders for every circuit" : " at the same priority as the portal (every browser's work competes with the server's for the 2 CPUs)")}");
        s.AppendLine(c, $"- Machine load (1, 5, 15 min averages from /proc/loadavg): {LoadAtStart} at the start, {LoadAtEnd} at the end (other work shared the 2 CPUs; every step of the path waits for a CPU)");
        s.AppendLine(c, $"- Containers: {Setup.Created} running busybox `sleep 3600` containers (process isolation) of {Setup.Requested} requested, created and started in {Setup.Seconds:0.0} s ({Options.SetupParallelism} at a time){(Setup.Failure is { } f ? $"; creating more failed: {f}" : "")}");
        if (CircuitsFailure is { } failure)
        {
            s.AppendLine(c, $"- Circuits: {CircuitsOpened} of {Options.Circuits} requested: {failure}");
        }

        s.AppendLine(c, $"- Events: {Options.Events} per phase: one of the first {8} containers by name (rows the virtualized grid has in its DOM) terminated (SIGKILL) or started through the agent's REST API, {Options.Interval.TotalMilliseconds:0} ms after the previous one was shown");
        s.AppendLine();
        s.AppendLine("Latency: t0 = `ContainerEvent.At`, stamped by the agent's compute service as it raises the event (read on a separate `SubscribeEvents` connection of the portal's client library). t1 = the browser's clock (`performance.timeOrigin + performance.now()`) at the first DOM mutation after which that container's row in the containers grid shows the new state (a MutationObserver in the page). Same machine, same system clock. The path in between: agent hub -> the portal's one connection per host (AgentHost) -> Fleet -> the page's coalescing window (50 ms) -> render -> the circuit's websocket -> the browser's DOM.");
        s.AppendLine();
        s.AppendLine("| circuits open | events shown | missed | p50 ms | p95 ms | max ms | min ms |");
        s.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (circuits, l) in new[] { (1, OneCircuit), (CircuitsOpened, ManyCircuits) })
        {
            if (l is not null)
            {
                s.AppendLine(c, $"| {circuits} | {l.Measured} | {l.Missed} | {l.P50:0.0} | {l.P95:0.0} | {l.Max:0.0} | {l.Min:0.0} |");
            }
        }

        s.AppendLine();
        if (ManyCircuits is { Measured: > 0 } m)
        {
            var met = m.P95 <= GoalP95Ms && m.Missed == 0 && (OneCircuit?.P95 ?? 0) <= GoalP95Ms;
            s.AppendLine(c, $"**p95 from agent event to DOM with {CircuitsOpened} circuits and {Setup.Created} containers: {m.P95:0.0} ms (1 circuit: {OneCircuit?.P95:0.0} ms). Goal: at most {GoalP95Ms:0} ms. {(met ? "Met" : "Not met")}{(Setup.Created < Setup.Requested ? $" (with {Setup.Created}, not {Setup.Requested}, containers)" : "")}.**");
            s.AppendLine();
        }

        s.AppendLine("Memory: the portal process's resident set (VmRSS), which includes whatever garbage the GC has not collected yet, so per circuit is an upper bound.");
        s.AppendLine();
        s.AppendLine("| when | portal RSS MiB |");
        s.AppendLine("|---|---:|");
        foreach (var (when, sample) in new[] { ("1 circuit open (the grid with all containers)", MemoryOneCircuit), ($"{CircuitsOpened} circuits open (opened in {CircuitsOpenSeconds:0.0} s, then 10 s settled)", MemoryManyCircuits), ($"{CircuitsOpened} circuits, after the second phase's events", MemoryAfterEvents) })
        {
            if (sample is not null)
            {
                s.AppendLine(c, $"| {when} | {sample.RssBytes / 1048576.0:0.0} |");
            }
        }

        s.AppendLine();
        if (MemoryPerCircuitMiB is { } per)
        {
            s.AppendLine(c, $"**Memory per circuit: {per:0.00} MiB** ((RSS with {CircuitsOpened} circuits - RSS with 1) / {CircuitsOpened - 1}).");
        }

        return s.ToString();
    }
}
