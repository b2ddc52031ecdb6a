using Portal.Compute;

namespace Portal.Docker;

/// <summary>
/// What the docker API serves: one host's compute services, and a task that completes when they are ready. Until it
/// has completed successfully every endpoint that needs the host answers 503 (<see cref="DockerReadiness"/>).
/// </summary>
public sealed record DockerCompute(IComputeHost Host, Task Ready)
{
    public bool IsReady => Ready.IsCompletedSuccessfully;
}
