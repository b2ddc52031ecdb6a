using Portal.Contracts;

namespace Portal.Docker;

/// <summary>What this engine tells docker clients about itself: the API versions it serves, its labels, and docker's isolation names.</summary>
public static class DockerEngine
{
    public const string ApiVersion = "1.50";
    public const string MinApiVersion = "1.24";

    /// <summary>Label that keeps HostConfig.AutoRemove (docker run --rm) with the container, so it survives agent restarts.</summary>
    public const string AutoRemoveLabel = "io.portal.docker.auto-remove";

    /// <summary>Shown in `docker ps --format '{{.Label "io.portal.isolation"}}'`: process or hyperv.</summary>
    public const string IsolationLabel = "io.portal.isolation";

    /// <summary>Docker's isolation names for the runtime types.</summary>
    public static string IsolationName(RuntimeType runtimeType) => runtimeType == RuntimeType.HyperV ? "hyperv" : "process";

    /// <summary>HostConfig.Isolation to a runtime type: null takes the host's default.</summary>
    public static RuntimeType? ParseIsolation(string? isolation) => isolation?.Trim().ToLowerInvariant() switch
    {
        null or "" or "default" => null,
        "process" => RuntimeType.Default,
        "hyperv" => RuntimeType.HyperV,
        _ => throw DockerApiException.BadParameter($"invalid isolation: \"{isolation}\": use process, hyperv or default"),
    };
}
