using System.Globalization;
using System.Text;

namespace Portal.Bench.Hub;

public sealed record HostSummary
{
    public required string Hostname { get; init; }
    public required string OperatingSystem { get; init; }
    public required string Kernel { get; init; }
    public required int Cpus { get; init; }
    public required string CgroupMode { get; init; }
    public required string Dotnet { get; init; }
    public required string Runtime { get; init; }
    public required string AgentVersion { get; init; }
}

public sealed record SetupTimes
{
    /// <summary>Creating and starting every container through REST, a few at a time.</summary>
    public required double ContainersSeconds { get; init; }
    public required int Parallelism { get; init; }
    /// <summary>One container's create plus start, as the client saw it.</summary>
    public required LatencyDistribution CreateStartPerContainer { get; init; }
    /// <summary>Connecting every subscriber and receiving every snapshot.</summary>
    public required double SubscribersSeconds { get; init; }
}

/// <summary>One measured event; latencies in ms from the agent raising it.</summary>
public sealed record EventSample
{
    public required int Index { get; init; }
    public required string Container { get; init; }
    public required string Kind { get; init; }
    public required DateTimeOffset RaisedAt { get; init; }
    /// <summary>Until the last subscriber received it (the measured quantity).</summary>
    public required double AllMs { get; init; }
    public required double FirstMs { get; init; }
    /// <summary>Agent side: until the last subscriber's stream batched it (ChangeBatch.At).</summary>
    public required double AgentBatchedMs { get; init; }
    /// <summary>From the state's own timestamp (StartedAt/FinishedAt, before the state file's write) to the last subscriber.</summary>
    public required double AllFromStateStampMs { get; init; }
    /// <summary>The command's round trip (terminate or start) as the client saw it.</summary>
    public required double CommandMs { get; init; }
    /// <summary>Last subscriber's arrival minus the command's answer; negative when the hub beat the REST answer.</summary>
    public required double AllAfterCommandAnswerMs { get; init; }
}

/// <summary>One subscriber's latencies over the events it received (null when it received none).</summary>
public sealed record SubscriberSummary(int Subscriber, double? P95Ms, double? MaxMs, int Received, int Batches);

public sealed record HubFanoutReport
{
    public string Benchmark { get; init; } = "hub-fanout";
    public required DateTimeOffset Date { get; init; }
    public required HostSummary Host { get; init; }
    public required int Containers { get; init; }
    public required int Subscribers { get; init; }
    public required int EventsRequested { get; init; }
    public required int EventsMeasured { get; init; }
    /// <summary>Events that some subscriber (or the event clock) never received within the wait; they fail the run.</summary>
    public required int EventsIncomplete { get; init; }
    public required double IntervalMs { get; init; }
    public required string Definition { get; init; }
    public required SetupTimes Setup { get; init; }
    public required LatencyDistribution AllReceived { get; init; }
    public required LatencyDistribution FirstReceived { get; init; }
    public required LatencyDistribution AgentBatched { get; init; }
    public required LatencyDistribution AllReceivedFromStateStamp { get; init; }
    public required LatencyDistribution PerSubscriberP95 { get; init; }
    public required LatencyDistribution Command { get; init; }
    public required double GoalP95Ms { get; init; }
    public required bool GoalMet { get; init; }
    public required double TeardownSeconds { get; init; }
    public required IReadOnlyList<string> Leftovers { get; init; }
    public required IReadOnlyList<SubscriberSummary> PerSubscriber { get; init; }
    public required IReadOnlyList<EventSample> Events { get; init; }

    public string ToMarkdown()
    {
        static string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
        static string Row(string name, LatencyDistribution d) => $"| {name} | {F(d.P50Ms)} | {F(d.P95Ms)} | {F(d.MaxMs)} | {F(d.MinMs)} |";
        var s = new StringBuilder();
        s.AppendLine("# Hub fan-out: time for a container event to reach every subscriber");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"- Date: {Date.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
        s.AppendLine(CultureInfo.InvariantCulture, $"- Host: {Host.OperatingSystem}, kernel {Host.Kernel}, {Host.Cpus} CPUs, cgroup {Host.CgroupMode}, {Host.Dotnet}; OCI runtime {Host.Runtime}; agent {Host.AgentVersion} (Release, its own process, on the same machine as the clients)");
        s.AppendLine(CultureInfo.InvariantCulture, $"- Load: {Containers} running busybox containers (`sleep 3600`), {Subscribers} SignalR subscribers to `SubscribeContainers` (one websocket each, JSON) plus one `SubscribeEvents` connection as the clock");
        s.AppendLine(CultureInfo.InvariantCulture, $"- Events: {EventsMeasured} measured of {EventsRequested} requested ({EventsIncomplete} incomplete): containers terminated (SIGKILL) and started again one at a time through REST, {F(IntervalMs)} ms between one command's answer and the next command");
        s.AppendLine(CultureInfo.InvariantCulture, $"- Setup: {Containers} containers created and started in {Setup.ContainersSeconds:0.0} s ({Setup.Parallelism} at a time; one create+start p50 {F(Setup.CreateStartPerContainer.P50Ms)} ms, p95 {F(Setup.CreateStartPerContainer.P95Ms)} ms); {Subscribers} subscribers connected with their snapshots in {Setup.SubscribersSeconds:0.00} s; teardown {TeardownSeconds:0.0} s");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Latency definition: {Definition}");
        s.AppendLine();
        s.AppendLine("| from the agent raising the event | p50 ms | p95 ms | max ms | min ms |");
        s.AppendLine("|---|---:|---:|---:|---:|");
        s.AppendLine(Row($"**until all {Subscribers} subscribers received it**", AllReceived));
        s.AppendLine(Row("until the first subscriber received it", FirstReceived));
        s.AppendLine(Row("until the agent batched it for the last subscriber (`ChangeBatch.At`)", AgentBatched));
        s.AppendLine(Row("per-subscriber p95 (spread over the subscribers)", PerSubscriberP95));
        s.AppendLine(Row("all received, from the state's own stamp (StartedAt/FinishedAt, before the state file's write)", AllReceivedFromStateStamp));
        s.AppendLine(Row("the command's round trip (terminate or start), for scale", Command));
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"**p95 until all subscribers received an event: {F(AllReceived.P95Ms)} ms. Goal: at most {F(GoalP95Ms)} ms. {(GoalMet ? "Met" : "Not met")}.**");
        s.AppendLine();
        s.AppendLine(Leftovers.Count == 0
            ? "Clean-up: no processes, mounts, loop devices, cgroups or directories left."
            : $"Clean-up left: {string.Join("; ", Leftovers)}");
        return s.ToString();
    }
}
