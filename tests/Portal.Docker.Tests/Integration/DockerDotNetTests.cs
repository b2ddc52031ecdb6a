using Docker.DotNet;
using Docker.DotNet.Models;

namespace Portal.Docker.Tests.Integration;

/// <summary>Docker.DotNet (the SDK .NET tools use) against the agent's docker socket.</summary>
[Trait("Requires", "root")]
public sealed class DockerDotNetTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    [RootFact]
    public async Task The_sdk_creates_starts_waits_reads_logs_execs_and_removes()
    {
        using var client = fixture.Agent.CreateClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ct = timeout.Token;

        var version = await client.System.GetVersionAsync(ct);
        Assert.Equal("1.50", version.APIVersion);

        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = "sdk-" + Guid.NewGuid().ToString("N")[..8],
            Image = "busybox",
            Cmd = ["sh", "-c", "echo sdk-out; echo sdk-err >&2; sleep 30"],
            Labels = new Dictionary<string, string> { ["team"] = "blue" },
            HostConfig = new HostConfig { Memory = 64L << 20, PidsLimit = 50, Isolation = "process" },
        }, ct);
        Assert.Matches("^[0-9a-f]{64}$", created.ID);

        Assert.True(await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct));
        var inspect = await client.Containers.InspectContainerAsync(created.ID, ct);
        Assert.True(inspect.State.Running);
        Assert.Equal("process", inspect.HostConfig.Isolation.ToString());
        Assert.Equal(64L << 20, inspect.HostConfig.Memory);
        Assert.Equal("blue", inspect.Config.Labels["team"]);

        var list = await client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, ct);
        Assert.Contains(list, c => c.ID == created.ID && c.State == "running");

        // exec through the hijacked, multiplexed stream; its exit code comes from exec inspect.
        var exec = await client.Exec.ExecCreateContainerAsync(created.ID, new ContainerExecCreateParameters
        {
            Cmd = ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 6"],
            AttachStdout = true,
            AttachStderr = true,
        }, ct);
        using (var stream = await client.Exec.StartAndAttachContainerExecAsync(exec.ID, tty: false, ct))
        {
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct);
            Assert.Equal("exec-out\n", stdout);
            Assert.Equal("exec-err\n", stderr);
        }

        var execInfo = await client.Exec.InspectContainerExecAsync(exec.ID, ct);
        Assert.Equal(6, execInfo.ExitCode);
        Assert.False(execInfo.Running);

        await Task.Delay(300, ct);
        using (var logs = await client.Containers.GetContainerLogsAsync(created.ID, tty: false, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true }, ct))
        {
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(ct);
            Assert.Equal("sdk-out\n", stdout);
            Assert.Equal("sdk-err\n", stderr);
        }

        Assert.True(await client.Containers.StopContainerAsync(created.ID, new ContainerStopParameters { WaitBeforeKillSeconds = 1 }, ct));
        var waited = await client.Containers.WaitContainerAsync(created.ID, ct);
        Assert.Contains(waited.StatusCode, new long[] { 137, 143 }); // SIGTERM, or SIGKILL after the grace period

        await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters(), ct);
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(created.ID, ct));

        var images = await client.Images.ListImagesAsync(new ImagesListParameters(), ct);
        Assert.Contains(images, i => i.RepoTags.Contains("busybox:latest"));
    }
}
