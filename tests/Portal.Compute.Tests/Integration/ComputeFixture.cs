using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Compute.Tests.Integration;

/// <summary>
/// A real compute stack (crun or runc, conmon, loop devices, overlayfs) in private directories and its own
/// cgroup parent. Needs root. Disposing removes every container, mount, loop device and cgroup it made.
/// </summary>
public sealed class ComputeFixture : IAsyncLifetime
{
    private readonly string _tag = $"portal-test-{Guid.NewGuid():N}"[..20];

    public ComputeFixture()
    {
        Options = new ComputeOptions
        {
            StateRoot = Path.Combine(Path.GetTempPath(), _tag, "state"),
            RunRoot = Path.Combine("/run", _tag),
            CgroupParent = _tag,
            ScratchDiskBytes = 1L << 30,
            DefaultStopTimeout = TimeSpan.FromSeconds(5),
        };
    }

    public ComputeOptions Options { get; private set; }

    public ComputeHost Host { get; private set; } = null!;

    public ComputeService Compute => Host.Service;

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("These tests drive real containers and need root (CI runs them as root): run ./deploy/portal test as root.");
        }

        Host = await ComputeHost.StartAsync(Options, NullLoggerFactory.Instance, CancellationToken.None);
    }

    /// <summary>Simulates the agent dying: drops this stack without stopping anything, then starts a new one on the same state.</summary>
    public async Task RestartAsync(ILoggerFactory? loggers = null)
    {
        await Host.DisposeAsync();
        Host = await ComputeHost.StartAsync(Options, loggers ?? NullLoggerFactory.Instance, CancellationToken.None);
    }

    public async Task<ContainerInfo> RunAsync(string name, params string[] command)
    {
        var created = await Compute.CreateContainerAsync(new ContainerCreateSpec { Name = name, Image = "busybox", Command = command });
        return await Compute.StartContainerAsync(created.Id);
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(ComputeService compute, string container, params string[] command)
    {
        await using var process = await compute.ExecAsync(container, new ProcessSpec { Command = command });
        var stdout = new StreamReader(process.StandardOutput).ReadToEndAsync();
        var stderr = new StreamReader(process.StandardError!).ReadToEndAsync();
        var code = await process.WaitAsync();
        return (code, await stdout, await stderr);
    }

    public async Task DisposeAsync()
    {
        if (Host is not null)
        {
            foreach (var container in Compute.ListContainers())
            {
                try
                {
                    await Compute.RemoveContainerAsync(container.Id, force: true);
                }
                catch (ComputeException)
                {
                }
            }

            await Host.DisposeAsync();
        }

        Mounts.UnmountAll(Options.RunRoot);
        Mounts.UnmountAll(Path.Combine(Path.GetTempPath(), _tag));
        DeleteDirectory(Options.RunRoot);
        DeleteDirectory(Path.Combine(Path.GetTempPath(), _tag));
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.EnumerateDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup") : [])
        {
            var parent = Path.Combine(hierarchy, _tag);
            if (Directory.Exists(parent))
            {
                foreach (var child in Directory.EnumerateDirectories(parent))
                {
                    TryRemoveCgroup(child);
                }

                TryRemoveCgroup(parent);
            }
        }
    }

    private static void TryRemoveCgroup(string path)
    {
        try
        {
            Directory.Delete(path); // cgroup directories are removed with rmdir, their files go with them
        }
        catch (IOException)
        {
        }
    }

    private static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
