using System.Globalization;
using System.Text;
using Portal.Bench.Shared;
using Portal.Bench.Soak;
using Portal.Contracts;
using Portal.Tests.Shared;

const string Usage = "usage: bench/run-soak [--kills N (50)] [--seed N (13)] [--process-only] [--no-crash-points] [--no-kills]";
var kills = 50;
var seed = 13;
var vm = true;
var crashPoints = true;
var killSoak = true;
for (var i = 0; i < args.Length; i++)
{
    bool Number(out int value) => int.TryParse(i + 1 < args.Length ? args[i + 1] : null, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    switch (args[i])
    {
        case "--kills" when Number(out var n) && n > 0:
            kills = n;
            i++;
            break;
        case "--seed" when Number(out var n):
            seed = n;
            i++;
            break;
        case "--process-only":
            vm = false;
            break;
        case "--no-crash-points":
            crashPoints = false;
            break;
        case "--no-kills":
            killSoak = false;
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            return 0;
        default:
            Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}'. {Usage}");
            return 2;
    }
}

TestSandbox.RequireRoot();
using var interrupts = new Interrupts();
RuntimeType[] runtimes = vm ? [RuntimeType.Default, RuntimeType.HyperV] : [RuntimeType.Default];
var sandbox = new TestSandbox("portal-soak");
var started = DateTime.UtcNow;
var lines = new List<string>();
void Log(string line)
{
    Console.WriteLine(line);
    lines.Add(line);
}

IReadOnlyList<CrashCase> cases = [];
KillTotals? totals = null;
List<KillRound> rounds = [];
var leftovers = new List<string>();
try
{
    await using var process = new AgentProcess(sandbox);
    var agent = new SoakAgent(process);
    await process.StartAsync();
    var idle = sandbox.Snapshot(process.Pid);
    Log($"agent {process.Pid} idle; its host footprint: {idle.Count} items; seed {seed}");
    if (crashPoints)
    {
        cases = await CrashInjection.RunAsync(agent, idle, runtimes, Log, interrupts.Token);
    }

    if (killSoak)
    {
        var soak = new KillSoak(agent, new Random(seed), runtimes, Log);
        try
        {
            totals = await soak.RunAsync(kills, idle, interrupts.Token);
        }
        finally
        {
            rounds = soak.Rounds;
        }
    }
}
finally
{
    sandbox.Clean();
    leftovers.AddRange(sandbox.Leftovers());
}

var md = new StringBuilder();
md.AppendLine("# Reliability soak (bench/run-soak)").AppendLine();
md.AppendLine(CultureInfo.InvariantCulture, $"Run {started:yyyy-MM-dd HH:mm} UTC, {(DateTime.UtcNow - started).TotalMinutes:0.0} min, seed {seed}, isolation: {string.Join(", ", runtimes)}, {Environment.ProcessorCount} CPUs.").AppendLine();
if (cases.Count > 0)
{
    md.AppendLine("## Crash injection at every step").AppendLine();
    md.AppendLine("The agent kills itself (SIGKILL) at the named point, is started again, and the container is checked and removed; orphans are what the host holds beyond an idle agent's footprint.").AppendLine();
    md.AppendLine("| point | isolation | reached | after restart | orphans |").AppendLine("|---|---|---|---|---|");
    foreach (var c in cases)
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"| {c.Point} | {c.RuntimeType} | {(c.Reached ? "yes" : "no")} | {c.Outcome} | {(c.Orphans.Count == 0 ? "0" : $"{c.Orphans.Count}: {string.Join("; ", c.Orphans)}")} |");
    }

    md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"Total: {cases.Count(c => c.Reached)} of {cases.Count} points reached, {cases.Sum(c => c.Orphans.Count)} orphans, {cases.Count(c => c.Outcome.Contains("UNUSABLE", StringComparison.Ordinal))} unusable containers.").AppendLine();
}

if (totals is not null)
{
    md.AppendLine("## kill -9 at random moments").AppendLine();
    md.AppendLine("| kills | containers lost | wrong state | wrong exit codes | unusable | log lines checked | lost | repeated | orphans at the end |").AppendLine("|---|---|---|---|---|---|---|---|---|");
    md.AppendLine(CultureInfo.InvariantCulture, $"| {totals.Kills} | {totals.ContainersLost} | {totals.WrongState} | {totals.WrongExitCodes} | {totals.UnusableContainers} | {totals.LinesChecked} | {totals.LinesLost} | {totals.LinesRepeated} | {totals.Orphans.Count} |").AppendLine();
    foreach (var round in rounds.Where(r => r.Problems.Count > 0))
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"- kill {round.Round} during {round.Operation} after {round.DelayMs} ms: {string.Join("; ", round.Problems)}");
    }

    foreach (var orphan in totals.Orphans)
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"- orphan at the end: {orphan}");
    }
}

md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"Left on the host after the sandbox's clean-up: {(leftovers.Count == 0 ? "nothing" : string.Join("; ", leftovers))}.");
var results = await ResultsDirectory.WriteAsync("soak", new { seed, runtimes, cases, totals, rounds, leftovers, log = lines }, md.ToString());
Console.WriteLine($"results: {results}/soak.md");
var clean = cases.All(c => c.Orphans.Count == 0 && !c.Outcome.Contains("UNUSABLE", StringComparison.Ordinal))
    && totals is null or { ContainersLost: 0, WrongState: 0, WrongExitCodes: 0, UnusableContainers: 0, LinesLost: 0, LinesRepeated: 0, Orphans.Count: 0 };
return clean ? 0 : 1;
