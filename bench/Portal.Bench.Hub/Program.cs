using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Portal.Bench.Hub;
using Portal.Bench.Shared;

const string Usage = "usage: bench/run-hub [--containers N (200)] [--subscribers N (50)] [--events N (100)] [--interval-ms N (75)] [--parallelism N (4)] [--agent PATH to Portal.Agent.dll]";
var containers = 200;
var subscribers = 50;
var events = 100;
var intervalMs = 75;
var parallelism = 4;
string? agentDll = null;
for (var i = 0; i < args.Length; i++)
{
    bool Number(out int value) => int.TryParse(i + 1 < args.Length ? args[i + 1] : null, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;
    switch (args[i])
    {
        case "--containers" when Number(out var n):
            containers = n;
            i++;
            break;
        case "--subscribers" when Number(out var n):
            subscribers = n;
            i++;
            break;
        case "--events" when Number(out var n):
            events = n;
            i++;
            break;
        case "--interval-ms" when Number(out var n):
            intervalMs = n;
            i++;
            break;
        case "--parallelism" when Number(out var n):
            parallelism = n;
            i++;
            break;
        case "--agent" when i + 1 < args.Length:
            agentDll = Path.GetFullPath(args[++i]);
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            return 0;
        default:
            Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}'. {Usage}");
            return 2;
    }
}

var results = ResultsDirectory.Find();
agentDll ??= Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(results))!, "src", "Portal.Agent", "bin", "Release", "net10.0", "Portal.Agent.dll");

using var interrupts = new Interrupts();

var options = new HubFanoutOptions
{
    Containers = containers,
    Subscribers = subscribers,
    Events = events,
    Interval = TimeSpan.FromMilliseconds(intervalMs),
    SetupParallelism = parallelism,
    AgentDll = agentDll,
};
HubFanoutReport report;
try
{
    report = await HubFanoutBenchmark.RunAsync(options, Console.Out, interrupts.Token);
}
catch (OperationCanceledException) when (interrupts.Requested)
{
    Console.Error.WriteLine("Interrupted; cleaned up, no results written.");
    return 130;
}

Directory.CreateDirectory(results);
var json = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Converters = { new JsonStringEnumConverter() } });
await File.WriteAllTextAsync(Path.Combine(results, "hub-fanout.json"), json + "\n");
var markdown = report.ToMarkdown();
await File.WriteAllTextAsync(Path.Combine(results, "hub-fanout.md"), markdown);
Console.WriteLine();
Console.WriteLine(markdown);
Console.WriteLine($"Written: {Path.Combine(results, "hub-fanout.json")} and .md");
return report.EventsIncomplete == 0 && report.Leftovers.Count == 0 ? 0 : 1;
