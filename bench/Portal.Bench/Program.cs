using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Portal.Bench;
using Portal.Bench.CreateStartWait;
using Portal.Bench.Shared;

var iterations = 30;
var warmups = 5;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--iterations" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0:
            iterations = n;
            i++;
            break;
        case "--warmups" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var w):
            warmups = w;
            i++;
            break;
        case "-h" or "--help":
            Console.WriteLine("usage: bench/run [--iterations N (default 30)] [--warmups N (default 5)]");
            return 0;
        default:
            Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}'. usage: bench/run [--iterations N] [--warmups N]");
            return 2;
    }
}

using var interrupts = new Interrupts();

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
CreateStartWaitReport report;
try
{
    report = await CreateStartWaitBenchmark.RunAsync(iterations, warmups, loggerFactory, Console.Out, interrupts.Token);
}
catch (OperationCanceledException) when (interrupts.Requested)
{
    Console.Error.WriteLine("Interrupted; cleaned up, no results written.");
    return 130;
}

var results = ResultsDirectory.Find();
Directory.CreateDirectory(results);
var json = JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter() } });
await File.WriteAllTextAsync(Path.Combine(results, "create-start-wait.json"), json + "\n");
var markdown = report.ToMarkdown();
await File.WriteAllTextAsync(Path.Combine(results, "create-start-wait.md"), markdown);
Console.WriteLine();
Console.WriteLine(markdown);
Console.WriteLine($"Written: {Path.Combine(results, "create-start-wait.json")} and .md");
return 0;
