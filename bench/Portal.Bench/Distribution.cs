using Portal.Bench.Shared;

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
            MedianMs = Percentiles.Round(Percentiles.Median(sorted)),
            P90Ms = Percentiles.Round(Percentiles.Of(sorted, 0.90)),
            MinMs = Percentiles.Round(sorted[0]),
            MaxMs = Percentiles.Round(sorted[^1]),
            MeanMs = Percentiles.Round(sorted.Average()),
        };
    }
}
