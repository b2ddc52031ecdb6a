namespace Portal.Bench;

/// <summary>Summary of one series of timings, in milliseconds.</summary>
public sealed record Distribution
{
    public required int Count { get; init; }
    public required double MedianMs { get; init; }
    public required double P90Ms { get; init; }
    public required double MinMs { get; init; }
    public required double MaxMs { get; init; }
    public required double MeanMs { get; init; }

    public static Distribution Of(IReadOnlyCollection<double> samplesMs)
    {
        if (samplesMs.Count == 0)
        {
            throw new ArgumentException("No samples.", nameof(samplesMs));
        }

        var sorted = samplesMs.Order().ToArray();
        return new Distribution
        {
            Count = sorted.Length,
            MedianMs = Round(Median(sorted)),
            P90Ms = Round(Percentile(sorted, 0.90)),
            MinMs = Round(sorted[0]),
            MaxMs = Round(sorted[^1]),
            MeanMs = Round(sorted.Average()),
        };
    }

    private static double Median(double[] sorted) => sorted.Length % 2 == 1
        ? sorted[sorted.Length / 2]
        : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;

    /// <summary>Nearest-rank percentile: the smallest sample with at least <paramref name="p"/> of the samples at or below it.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Round(double ms) => Math.Round(ms, 2);
}
