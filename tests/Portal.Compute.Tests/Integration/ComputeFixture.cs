using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Tests.Shared;
using Portal.Contracts;

namespace Portal.Compute.Tests.Integration;

/// <summary>
/// A real compute stack (crun or runc, conmon, loop devices, overlayfs) in private directories and its own
/// cgroup parent. Needs root (its tests are [RootFact]s; without root it starts nothing). Disposing removes every container, mount, loop device and cgroup it made.
/// </summary>
public sealed class ComputeFixture : IAsyncLifetime
{
    private readonly TestSandbox _sandbox = new();

    public ComputeOptions Options => _sandbox.Options;

    public ComputeHost Host { get; private set; } = null!;

    public IComputeHost Compute => Host;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return; // every test of this fixture is skipped, with the reason
        }

        Host = await ComputeHost.StartAsync(Options, NullLoggerFactory.Instance, CancellationToken.None);
    }

    /// <summary>Drops this stack without stopping anything (as if the agent died), then starts a new one on the same state.</summary>
    public async Task RestartAsync()
    {
        await Host.DisposeAsync();
        Host = await ComputeHost.StartAsync(Options, NullLoggerFactory.Instance, CancellationToken.None);
    }

    public async Task<ContainerInfo> RunAsync(string name, params string[] command)
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = name, Image = "busybox", Command = command });
        return await Compute.Containers.StartContainerAsync(created.Id);
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(IComputeHost compute, string container, params string[] command)
    {
        await using var process = await compute.Containers.ExecAsync(container, new ProcessSpec { Command = command });
        var stdout = new StreamReader(process.StandardOutput).ReadToEndAsync();
        var stderr = new StreamReader(process.StandardError!).ReadToEndAsync();
        var code = await process.WaitAsync();
        return (code, await stdout, await stderr);
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            if (Host is not null)
            {
                foreach (var container in Compute.Containers.ListContainers())
                {
                    await Compute.Containers.RemoveContainerAsync(container.Id, force: true);
                }

                await Host.DisposeAsync();
            }
        }
        finally
        {
            _sandbox.Clean();
        }
    }
}
