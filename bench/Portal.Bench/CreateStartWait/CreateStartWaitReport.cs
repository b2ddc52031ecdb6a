using System.Globalization;
using System.Text;

namespace Portal.Bench.CreateStartWait;

/// <summary>The machine and runtime a result was measured on.</summary>
public sealed record BenchHost
{
    public required string Kernel { get; init; }
    public required string OperatingSystem { get; init; }
    public required int Cpus { get; init; }
    public required string CgroupMode { get; init; }
    public required string Dotnet { get; init; }
    public required string RuntimeName { get; init; }
    public required string RuntimeVersion { get; init; }
    public required string RuntimePath { get; init; }
    public required string RuntimeReason { get; init; }
}

/// <summary>Medians (and spreads) of each library call, to see where the library's time goes.</summary>
public sealed record LibraryBreakdown
{
    public required Distribution Create { get; init; }
    public required Distribution Start { get; init; }
    public required Distribution Wait { get; init; }

    /// <summary>Not part of the compared total: remove happens after the timed region.</summary>
    public required Distribution RemoveUntimed { get; init; }
}

/// <summary>Every measured sample in run order (warm-ups excluded).</summary>
public sealed record CreateStartWaitSamples
{
    public required IReadOnlyList<LibrarySample> Library { get; init; }
    public required IReadOnlyList<double> PeerMs { get; init; }
}

/// <summary>create+start+wait of /bin/true through the library against the same OCI runtime run directly, side by side in one run.</summary>
public sealed record CreateStartWaitReport
{
    public const double GoalRatio = 1.5;

    public string Benchmark { get; init; } = "create-start-wait";
    public required DateTimeOffset Date { get; init; }
    public required BenchHost Host { get; init; }
    public required int Iterations { get; init; }
    public required int Warmups { get; init; }
    public required Distribution Library { get; init; }
    public required Distribution Peer { get; init; }

    /// <summary>Median of the library path over median of the peer path.</summary>
    public required double Ratio { get; init; }

    public double Goal { get; init; } = GoalRatio;
    public bool GoalMet => Ratio <= Goal;
    public required LibraryBreakdown Breakdown { get; init; }
    public required CreateStartWaitSamples Samples { get; init; }

    public static CreateStartWaitReport From(DateTimeOffset date, BenchHost host, int warmups, IReadOnlyList<LibrarySample> library, IReadOnlyList<double> peer)
    {
        var libraryTotal = Distribution.Of(library.Select(s => s.TotalMs).ToList());
        var peerTotal = Distribution.Of(peer);
        return new CreateStartWaitReport
        {
            Date = date,
            Host = host,
            Iterations = library.Count,
            Warmups = warmups,
            Library = libraryTotal,
            Peer = peerTotal,
            Ratio = Math.Round(libraryTotal.MedianMs / peerTotal.MedianMs, 2),
            Breakdown = new LibraryBreakdown
            {
                Create = Distribution.Of(library.Select(s => s.CreateMs).ToList()),
                Start = Distribution.Of(library.Select(s => s.StartMs).ToList()),
                Wait = Distribution.Of(library.Select(s => s.WaitMs).ToList()),
                RemoveUntimed = Distribution.Of(library.Select(s => s.RemoveMs).ToList()),
            },
            Samples = new CreateStartWaitSamples { Library = library, PeerMs = peer },
        };
    }

    /// <summary>The human-readable summary: the .md file's content, also printed to stdout.</summary>
    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(c, $"# create+start+wait of /bin/true: library vs {Host.RuntimeName} directly");
        md.AppendLine();
        md.AppendLine(c, $"- Date: {Date:yyyy-MM-dd HH:mm:ss} UTC");
        md.AppendLine(c, $"- Host: {Host.OperatingSystem}, kernel {Host.Kernel}, {Host.Cpus} CPUs, cgroup {Host.CgroupMode}, {Host.Dotnet}");
        md.AppendLine(c, $"- Runtime: {Host.RuntimeName} {Host.RuntimeVersion} ({Host.RuntimePath}); chosen because: {Host.RuntimeReason}");
        md.AppendLine(c, $"- Iterations: {Iterations} per path after {Warmups} warm-ups, interleaved (library, peer, library, peer ...)");
        md.AppendLine();
        md.AppendLine("| path | median ms | p90 ms | min ms | max ms |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        md.AppendLine(c, $"| library: CreateContainerAsync + StartContainerAsync + WaitAsync | {Library.MedianMs:F1} | {Library.P90Ms:F1} | {Library.MinMs:F1} | {Library.MaxMs:F1} |");
        md.AppendLine(c, $"| peer: `{Host.RuntimeName} run` of an equivalent bundle | {Peer.MedianMs:F1} | {Peer.P90Ms:F1} | {Peer.MinMs:F1} | {Peer.MaxMs:F1} |");
        md.AppendLine();
        md.AppendLine(c, $"**Ratio library/peer (medians): {Ratio:F2}x. Goal: at most {Goal:F1}x. {(GoalMet ? "Met." : "Not met.")}**");
        md.AppendLine();
        md.AppendLine("Library breakdown (each call timed on its own):");
        md.AppendLine();
        md.AppendLine("| call | median ms | p90 ms | min ms |");
        md.AppendLine("|---|---:|---:|---:|");
        md.AppendLine(c, $"| CreateContainerAsync | {Breakdown.Create.MedianMs:F1} | {Breakdown.Create.P90Ms:F1} | {Breakdown.Create.MinMs:F1} |");
        md.AppendLine(c, $"| StartContainerAsync | {Breakdown.Start.MedianMs:F1} | {Breakdown.Start.P90Ms:F1} | {Breakdown.Start.MinMs:F1} |");
        md.AppendLine(c, $"| WaitAsync (until stopped) | {Breakdown.Wait.MedianMs:F1} | {Breakdown.Wait.P90Ms:F1} | {Breakdown.Wait.MinMs:F1} |");
        md.AppendLine(c, $"| RemoveContainerAsync (not in the total) | {Breakdown.RemoveUntimed.MedianMs:F1} | {Breakdown.RemoveUntimed.P90Ms:F1} | {Breakdown.RemoveUntimed.MinMs:F1} |");
        return md.ToString();
    }
}
