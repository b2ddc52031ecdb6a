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
            P50Ms = Round(Percentile(sorted, 0.50)),
            P95Ms = Round(Percentile(sorted, 0.95)),
            MaxMs = Round(sorted[^1]),
            MinMs = Round(sorted[0]),
            MeanMs = Round(sorted.Average()),
        };
    }

    /// <summary>The smallest sample with at least <paramref name="p"/> of the samples at or below it.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    public static double Round(double ms) => Math.Round(ms, 2);
}
