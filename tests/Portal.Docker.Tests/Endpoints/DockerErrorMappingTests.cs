using Portal.Compute;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Docker.Tests.Endpoints;

/// <summary>Failures become dockerd's {"message": ...} with the status the CLI and SDKs understand, mapped in one place.</summary>
public sealed class DockerErrorMappingTests
{
    [Theory]
    [InlineData("containers/nope/json", 404, "No such container: nope")]
    [InlineData("images/nope/json", 404, "No such image: nope")]
    [InlineData("networks/nope", 404, "network nope not found")]
    public async Task Unknown_objects_are_404(string path, int expected, string message)
    {
        await using var api = await DockerApiHarness.StartAsync();

        var (status, body) = await api.GetAsync(path);

        Assert.Equal(expected, status);
        Assert.Equal(message, DockerApiHarness.Message(body));
    }

    [Theory]
    [InlineData("""{"Image":"nosuchimage"}""", 404, "No such image: nosuchimage")] // docker run then says "Unable to find image locally"
    [InlineData("""{"Image":"busybox","HostConfig":{"Isolation":"xen"}}""", 400, "invalid isolation: \"xen\": use process, hyperv or default")]
    [InlineData("""{"Image":"busybox","HostConfig":{"Binds":["/:/host"]}}""", 400, "bind mounts and volumes (-v, --mount) are not supported by this engine")]
    [InlineData("""{"Image":"busybox","HostConfig":{"NetworkMode":"nope"}}""", 404, "No such switch: 'nope'")] // the agent's own words, as the fake now answers
    [InlineData("""{"Image":"busybox","HostConfig":{"Memory":"lots"}}""", 400, "invalid request body at $.HostConfig.Memory")]
    [InlineData("""{"Image":"busybox",""", 400, "invalid request body")]
    [InlineData("null", 400, "The request body is null: send a JSON object.")]
    [InlineData("", 400, "The request body is empty: send a JSON object.")]
    public async Task Bad_create_bodies_get_the_status_and_message_dockerd_would(string json, int expected, string message)
    {
        await using var api = await DockerApiHarness.StartAsync();

        var (status, body) = await api.PostAsync("containers/create", json);

        Assert.Equal(expected, status);
        Assert.StartsWith(message, DockerApiHarness.Message(body), StringComparison.Ordinal);
        Assert.Empty(api.Host.Containers.ListContainers());
    }

    [Fact]
    public async Task A_taken_name_is_409()
    {
        await using var api = await DockerApiHarness.StartAsync();
        Assert.Equal(201, (await api.PostAsync("containers/create?name=twin", """{"Image":"busybox"}""")).Status);

        var (status, body) = await api.PostAsync("containers/create?name=twin", """{"Image":"busybox"}""");

        Assert.Equal(409, status);
        Assert.Contains("already in use", DockerApiHarness.Message(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killing_a_stopped_container_is_409_in_docker_s_words()
    {
        await using var api = await DockerApiHarness.StartAsync();
        var container = await api.Host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "idle", Image = "busybox" });

        var (status, body) = await api.PostAsync("containers/idle/kill");

        Assert.Equal(409, status);
        Assert.Equal($"cannot kill container: idle: container {container.Id} is not running", DockerApiHarness.Message(body));
    }

    [Fact]
    public async Task The_host_saying_it_is_unavailable_is_503()
    {
        await using var api = await DockerApiHarness.StartAsync();
        api.Host.Containers.ListFailure = new ComputeException(ComputeErrorCode.Unavailable, "the host is restarting");

        var (status, body) = await api.GetAsync("containers/json");

        Assert.Equal(503, status);
        Assert.Equal("the host is restarting", DockerApiHarness.Message(body));
    }

    [Fact]
    public async Task An_unexpected_failure_is_500_and_hides_internals()
    {
        await using var api = await DockerApiHarness.StartAsync();
        api.Host.Containers.ListFailure = new InvalidOperationException("secret /var/lib/portal internals");

        var (status, body) = await api.GetAsync("containers/json");

        Assert.Equal(500, status);
        var message = DockerApiHarness.Message(body);
        Assert.DoesNotContain("secret", message, StringComparison.Ordinal);
        Assert.Contains("agent's log", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Info_and_version_describe_the_host_and_its_default_isolation()
    {
        await using var api = await DockerApiHarness.StartAsync(host: new FakeComputeHost(RuntimeType.HyperV));

        var (infoStatus, info) = await api.GetAsync("info");
        var (versionStatus, version) = await api.GetAsync("v1.44/version");

        Assert.Equal(200, infoStatus);
        Assert.Equal("hyperv", info.GetProperty("Isolation").GetString());
        Assert.Equal(["process", "hyperv"], info.GetProperty("Isolations").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal(2, info.GetProperty("NCPU").GetInt32());
        Assert.Equal(200, versionStatus);
        Assert.Equal(DockerEngine.ApiVersion, version.GetProperty("ApiVersion").GetString());
    }
}
