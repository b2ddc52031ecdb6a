using System.Globalization;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// docker's --log-driver and --log-opt (HostConfig.LogConfig) as the container's log rotation: json-file and local
/// (docker's default drivers) honour max-size and max-file; none keeps only the smallest log attach needs; any other
/// driver, or an option this engine does not honour, is a 400.
/// </summary>
internal static class DockerLogOptions
{
    /// <summary>What "--log-driver none" keeps: attach and `docker run` read the output through the log file.</summary>
    public const long NoneMaxBytes = 1L << 20;

    private static readonly string[] Drivers = ["json-file", "local", "none"];

    /// <summary>Returns <paramref name="limits"/> with the log's rotation from <paramref name="config"/> (null: the host's defaults).</summary>
    public static ContainerLimits Apply(ContainerLimits limits, DockerLogConfigRequest? config)
    {
        var driver = string.IsNullOrEmpty(config?.Type) ? "json-file" : config.Type;
        if (!Drivers.Contains(driver, StringComparer.Ordinal))
        {
            throw DockerApiException.BadParameter($"logging driver \"{driver}\" is not supported by this engine: use json-file (the default), local or none");
        }

        var options = config?.Config ?? new Dictionary<string, string?>();
        if (driver == "none")
        {
            if (options.Count > 0)
            {
                throw DockerApiException.BadParameter($"logging driver none takes no options (got {string.Join(", ", options.Keys)})");
            }

            return limits with { LogMaxBytes = NoneMaxBytes, LogMaxFiles = 1 };
        }

        long? maxBytes = null;
        int? maxFiles = null;
        foreach (var (key, value) in options)
        {
            switch (key)
            {
                case "max-size":
                    maxBytes = Size(value ?? "");
                    break;
                case "max-file":
                    maxFiles = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var files) && files is >= 1 and <= 100
                        ? files
                        : throw DockerApiException.BadParameter($"invalid value for log-opt max-file: \"{value}\": give a whole number from 1 to 100");
                    break;
                default:
                    throw DockerApiException.BadParameter($"unknown log opt '{DockerCreateMapper.NoNul(key, "LogConfig")}' for {driver} log driver: this engine honours max-size and max-file");
            }
        }

        return limits with { LogMaxBytes = maxBytes, LogMaxFiles = maxFiles };
    }

    /// <summary>docker's json-file reads max-size with RAMInBytes (binary units); at least 4 KiB, at most 1 TiB here.</summary>
    internal static long Size(string text) =>
        DockerCreateMapper.RamBytes(text.Trim()) is { } bytes and >= 4096 and <= 1L << 40
            ? bytes
            : throw DockerApiException.BadParameter($"invalid value for log-opt max-size: \"{text}\": give a size of at least 4k, such as 10m");
}
