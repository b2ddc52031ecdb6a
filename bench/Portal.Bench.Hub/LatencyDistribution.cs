using Portal.Bench.Shared;

namespace Portal.Bench.Hub;

/// <summary>Summary of one series of latencies, in milliseconds (nearest-rank percentiles).</summary>
public sealed record LatencyDistribution
{
    public required int Count { get; init; }
    public required double P50Ms { get; init; }
    public required double P95Ms { get; init; }
    public required double MaxMs { get; init; }
    public required double MinMs { get; init; }
    public required double MeanMs { get; init; }

    public static LatencyDistribution Of(IReadOnlyCollection<double> samplesMs)
    {
        if (samplesMs.Count == 0)
        {
            throw new ArgumentException("No samples.", nameof(samplesMs));
        }

        var sorted = samplesMs.Order().ToArray();
        return new LatencyDistribution
        {
            Count = sorted.Length,
            P50Ms = Percentiles.Round(Percentiles.Of(sorted, 0.50)),
            P95Ms = Percentiles.Round(Percentiles.Of(sorted, 0.95)),
            MaxMs = Percentiles.Round(sorted[^1]),
            MinMs = Percentiles.Round(sorted[0]),
            MeanMs = Percentiles.Round(sorted.Average()),
        };
    }
}
