using System.Globalization;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>Docker's textual conventions: RFC 3339 times, "Up 5 seconds" statuses, quoted command lines.</summary>
internal static class DockerFormat
{
    public const string ZeroTime = "0001-01-01T00:00:00Z";

    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture) : ZeroTime;

    /// <summary>docker's units.HumanDuration.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < 1)
        {
            return "Less than a second";
        }

        if (seconds == 1)
        {
            return "1 second";
        }

        if (seconds < 60)
        {
            return $"{seconds} seconds";
        }

        var minutes = (long)d.TotalMinutes;
        if (minutes == 1)
        {
            return "About a minute";
        }

        if (minutes < 60)
        {
            return $"{minutes} minutes";
        }

        var hours = (long)Math.Round(d.TotalHours);
        if (hours == 1)
        {
            return "About an hour";
        }

        if (hours < 48)
        {
            return $"{hours} hours";
        }

        if (hours < 24 * 7 * 2)
        {
            return $"{hours / 24} days";
        }

        if (hours < 24 * 30 * 2)
        {
            return $"{hours / 24 / 7} weeks";
        }

        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24 / 30} months";
        }

        return $"{hours / 24 / 365} years";
    }

    public static string State(ContainerState state) => state switch
    {
        ContainerState.Created => "created",
        ContainerState.Running or ContainerState.Stopping => "running",
        _ => "exited",
    };

    public static string Status(ContainerInfo c, DateTimeOffset now) => c.State switch
    {
        ContainerState.Created => "Created",
        ContainerState.Running or ContainerState.Stopping => $"Up {HumanDuration(now - (c.StartedAt ?? now))}",
        _ => $"Exited ({c.ExitCode ?? 0}) {HumanDuration(now - (c.FinishedAt ?? now))} ago",
    };

    /// <summary>A command line as `docker ps` shows it: arguments with spaces are quoted.</summary>
    public static string CommandLine(IEnumerable<string> command) =>
        string.Join(' ', command.Select(a => a.Length == 0 || a.Any(char.IsWhiteSpace) || a.Contains('"') ? "\"" + a.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"" : a));

    /// <summary>CPU time as ps prints it: [dd-]hh:mm:ss.</summary>
    public static string CpuTime(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return t.Days > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{t.Days}-{t.Hours:00}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Hours:00}:{t.Minutes:00}:{t.Seconds:00}");
    }
}
