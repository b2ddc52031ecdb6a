using Microsoft.Extensions.Options;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Agent.Docker;

/// <summary>The docker endpoints' way to the agent's compute host (shared with the agent's other APIs) and its defaults.</summary>
public sealed class DockerEngine(ComputeHostService compute, IOptions<ComputeOptions> computeOptions)
{
    public const string ApiVersion = "1.50";
    public const string MinApiVersion = "1.24";

    /// <summary>Label that keeps HostConfig.AutoRemove (docker run --rm) with the container, so it survives agent restarts.</summary>
    public const string AutoRemoveLabel = "io.portal.docker.auto-remove";

    /// <summary>Shown in `docker ps --format '{{.Label "io.portal.isolation"}}'`: process or hyperv.</summary>
    public const string IsolationLabel = "io.portal.isolation";

    public RuntimeType DefaultRuntimeType => computeOptions.Value.DefaultRuntimeType;

    public async Task<IComputeHost> HostAsync()
    {
        await compute.Ready.ConfigureAwait(false);
        return compute;
    }

    public Task<IComputeHost> ServiceAsync() => HostAsync();

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
