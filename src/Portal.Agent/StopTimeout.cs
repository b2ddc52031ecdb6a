using System.Globalization;
using Portal.Compute;

namespace Portal.Agent;

/// <summary>A stop timeout given in seconds by REST or the hub: checked before it becomes a TimeSpan (1e999 overflowed into a 500).</summary>
internal static class StopTimeout
{
    /// <summary>A week: longer than any container should take to stop.</summary>
    public const double MaxSeconds = 7 * 24 * 3600;

    public static TimeSpan? FromSeconds(double? seconds) => seconds switch
    {
        null => null,
        { } s when double.IsFinite(s) && s is >= 0 and <= MaxSeconds => TimeSpan.FromSeconds(s),
        { } s => throw new ComputeException(ComputeErrorCode.InvalidArgument,
            $"Invalid timeout {s.ToString(CultureInfo.InvariantCulture)}: give the seconds to wait before the container is killed, from 0 to {MaxSeconds.ToString(CultureInfo.InvariantCulture)} (a week)."),
    };
}
