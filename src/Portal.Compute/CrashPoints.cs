using System.Diagnostics;

namespace Portal.Compute;

/// <summary>
/// Crash injection for the reliability soak (bench/run-soak): when the environment variable <see cref="Variable"/> names
/// one of <see cref="All"/>, the process kills itself with SIGKILL on reaching that point, as a kill -9 or a power cut
/// between two steps would. Unset (always, outside the soak), reaching a point costs one comparison.
/// </summary>
public static class CrashPoints
{
    public const string Variable = "PORTAL_CRASH_AT";

    public const string CreateScratchMade = "create.scratch-made";
    public const string CreateSaved = "create.saved";
    public const string StartNetworkAttached = "start.network-attached";
    public const string StartDriverStarted = "start.driver-started";
    public const string StartSaved = "start.saved";
    public const string StopSignalled = "stop.signalled";
    public const string ConvertCleanedUp = "convert.cleaned-up";
    public const string ConvertSaved = "convert.saved";
    public const string RemoveCleanedUp = "remove.cleaned-up";
    public const string RemoveDetached = "remove.detached";

    /// <summary>Every point, in the order a container's life passes them.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        CreateScratchMade, CreateSaved, StartNetworkAttached, StartDriverStarted, StartSaved, StopSignalled,
        ConvertCleanedUp, ConvertSaved, RemoveCleanedUp, RemoveDetached,
    ];

    private static readonly string? Armed = Environment.GetEnvironmentVariable(Variable);

    public static void Reach(string point)
    {
        if (Armed is not null && string.Equals(Armed, point, StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"crash injection: {point} reached ({Variable}); killing the process");
            Console.Error.Flush();
            using var self = Process.GetCurrentProcess();
            self.Kill(); // SIGKILL: nothing of the shutdown runs
        }
    }
}
