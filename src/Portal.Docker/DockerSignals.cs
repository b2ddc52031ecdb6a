using System.Globalization;

namespace Portal.Docker;

/// <summary>Signal names and numbers as `docker kill -s` and `docker stop -s` accept them (SIGKILL, KILL, 9).</summary>
internal static class DockerSignals
{
    private static readonly Dictionary<string, int> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21,
        ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28,
        ["IO"] = 29, ["POLL"] = 29, ["PWR"] = 30, ["SYS"] = 31, ["RTMIN"] = 34, ["RTMAX"] = 64,
    };

    public static int Parse(string? signal, int fallback)
    {
        if (string.IsNullOrWhiteSpace(signal))
        {
            return fallback;
        }

        var text = signal.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is >= 1 and <= 64)
        {
            return number;
        }

        var name = text.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? text[3..] : text;
        return Names.TryGetValue(name, out var value)
            ? value
            : throw DockerApiException.BadParameter($"Invalid signal: {signal}");
    }
}
