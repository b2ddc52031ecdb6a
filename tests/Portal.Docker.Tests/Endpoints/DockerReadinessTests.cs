namespace Portal.Docker.Tests.Endpoints;

/// <summary>The one readiness check: every endpoint that needs the compute host answers 503 in docker's format until it is ready.</summary>
public sealed class DockerReadinessTests
{
    [Theory]
    [InlineData("GET", "containers/json")]
    [InlineData("GET", "v1.50/containers/json?all=1")]
    [InlineData("GET", "containers/web/json")]
    [InlineData("POST", "containers/create")]
    [InlineData("POST", "containers/web/start")]
    [InlineData("DELETE", "containers/web?force=1")]
    [InlineData("GET", "images/json")]
    [InlineData("GET", "networks")]
    [InlineData("GET", "version")]
    [InlineData("GET", "info")]
    [InlineData("GET", "exec/abc/json")]
    public async Task Endpoints_answer_503_with_a_message_until_the_host_is_ready(string method, string path)
    {
        await using var api = await DockerApiHarness.StartAsync(ready: false);

        var (status, body) = method switch
        {
            "POST" => await api.PostAsync(path, "{\"Image\":\"busybox\"}"),
            "DELETE" => await api.DeleteAsync(path),
            _ => await api.GetAsync(path),
        };

        Assert.Equal(503, status);
        Assert.Contains("still starting", DockerApiHarness.Message(body), StringComparison.Ordinal);
        Assert.Empty(api.Host.Containers.CreatedSpecs); // refused before any handler ran
    }

    [Fact]
    public async Task Ping_answers_at_once_and_the_same_request_succeeds_once_ready()
    {
        await using var api = await DockerApiHarness.StartAsync(ready: false);

        using var ping = await api.Http.GetAsync("_ping");
        Assert.Equal(200, (int)ping.StatusCode);
        Assert.Equal("OK", await ping.Content.ReadAsStringAsync());
        Assert.Equal(503, (await api.GetAsync("containers/json")).Status);

        api.MarkReady();

        var (status, body) = await api.GetAsync("containers/json");
        Assert.Equal(200, status);
        Assert.Equal(0, body.GetArrayLength());
    }

    [Fact]
    public async Task A_host_that_failed_to_start_keeps_answering_503_and_says_so()
    {
        await using var api = await DockerApiHarness.StartAsync(ready: false);
        api.FailStart();

        var (status, body) = await api.GetAsync("info");

        Assert.Equal(503, status);
        Assert.Contains("did not start", DockerApiHarness.Message(body), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nonsense/path", 404, "page not found")]
    [InlineData("containers/prune", 501, "not supported by this engine")]
    [InlineData("v1.99/containers/json", 400, "is too new")]
    [InlineData("v1.12/containers/json", 400, "is too old")]
    public async Task Routing_errors_do_not_wait_for_the_host(string path, int expected, string message)
    {
        await using var api = await DockerApiHarness.StartAsync(ready: false);

        var (status, body) = path.EndsWith("prune", StringComparison.Ordinal) ? await api.PostAsync(path) : await api.GetAsync(path);

        Assert.Equal(expected, status);
        Assert.Contains(message, DockerApiHarness.Message(body), StringComparison.Ordinal);
    }
}
