using Portal.Compute;
using Portal.Contracts;

namespace Portal.Bench.Soak;

/// <summary>One crash point under one isolation: did the agent die there, and what did the restart leave behind.</summary>
public sealed record CrashCase
{
    public required string Point { get; init; }
    public required RuntimeType RuntimeType { get; init; }
    public required bool Reached { get; init; }
    public required string Outcome { get; init; }
    public required IReadOnlyList<string> Orphans { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// Kills the agent at every crash point of a container's life (create, start, stop, convert, remove) under both
/// isolations, restarts it, checks that the container is either gone or fully usable, removes it, and compares what
/// is left on the host with what an idle agent holds.
/// </summary>
public static class CrashInjection
{
    public static async Task<IReadOnlyList<CrashCase>> RunAsync(SoakAgent agent, IReadOnlySet<string> idle, IReadOnlyList<RuntimeType> runtimes, Action<string> log, CancellationToken ct)
    {
        var cases = new List<CrashCase>();
        var n = 0;
        foreach (var point in CrashPoints.All)
        {
            foreach (var runtime in runtimes)
            {
                ct.ThrowIfCancellationRequested();
                var started = DateTime.UtcNow;
                var name = $"crash-{++n}";
                await agent.RestartAsync(crashAt: point);
                var reached = await ContainerLife.DiesDuringAsync(agent.Process, name, runtime);
                await agent.RestartAsync();
                var outcome = await ContainerLife.SettleAsync(agent.Process, name);
                var orphans = agent.Process.Sandbox.Snapshot(agent.Process.Pid).Except(idle).ToList();
                cases.Add(new CrashCase { Point = point, RuntimeType = runtime, Reached = reached, Outcome = outcome, Orphans = orphans, Seconds = (DateTime.UtcNow - started).TotalSeconds });
                log($"crash at {point,-24} {runtime,-8} {(reached ? "reached" : "NOT reached"),-11} {outcome}; {orphans.Count} orphans{(orphans.Count > 0 ? ": " + string.Join(", ", orphans) : "")}");
            }
        }

        return cases;
    }
}
