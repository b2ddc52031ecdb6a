using System.Globalization;
using Portal.Bench.Shared;
using Portal.Bench.Web;

const string Usage = "usage: bench/run-web [--containers N (500)] [--circuits N (50)] [--events N (60)] [--parallelism N (4)] [--load-foreground (the other circuits' browser at normal priority, not in the background)]";
var options = new PortalWebOptions();
for (var i = 0; i < args.Length; i++)
{
    bool Number(out int value) => int.TryParse(i + 1 < args.Length ? args[i + 1] : null, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;
    switch (args[i])
    {
        case "--containers" when Number(out var n) && n >= 8:
            options = options with { Containers = n };
            i++;
            break;
        case "--circuits" when Number(out var n) && n >= 2:
            options = options with { Circuits = n };
            i++;
            break;
        case "--events" when Number(out var n):
            options = options with { Events = n };
            i++;
            break;
        case "--parallelism" when Number(out var n):
            options = options with { SetupParallelism = n };
            i++;
            break;
        case "--load-foreground":
            options = options with { BackgroundLoad = false };
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            return 0;
        default:
            Console.Error.WriteLine($"Unknown or incomplete argument '{args[i]}' (containers at least 8, circuits at least 2). {Usage}");
            return 2;
    }
}

using var interrupts = new Interrupts();
PortalWebReport report;
try
{
    report = await PortalWebBenchmark.RunAsync(options, Console.Out, interrupts.Token);
}
catch (OperationCanceledException) when (interrupts.Requested)
{
    Console.Error.WriteLine("Interrupted; cleaned up, no results written.");
    return 130;
}

var markdown = report.ToMarkdown();
var results = await ResultsDirectory.WriteAsync("portal", report, markdown);
Console.WriteLine(markdown);
Console.WriteLine($"Written: {Path.Combine(results, "portal.json")} and .md");
return 0;
