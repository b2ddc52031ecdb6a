namespace Portal.Bench.Shared;

/// <summary>The statistics every benchmark reports, computed one way.</summary>
public static class Percentiles
{
    /// <summary>Nearest rank: the smallest sample with at least <paramref name="p"/> of the samples at or below it.</summary>
    public static double Of(IReadOnlyList<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    public static double Median(IReadOnlyList<double> sorted) => sorted.Count % 2 == 1
        ? sorted[sorted.Count / 2]
        : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>Milliseconds as results files show them.</summary>
    public static double Round(double ms) => Math.Round(ms, 2);
}
