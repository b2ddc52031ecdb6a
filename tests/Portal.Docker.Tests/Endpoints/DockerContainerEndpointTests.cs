using System.Text.Json;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker.Tests.Endpoints;

/// <summary>The container endpoints against a fake host: what docker ps, inspect, create, start, stop and rm see.</summary>
public sealed class DockerContainerEndpointTests
{
    [Fact]
    public async Task A_policy_s_warning_for_a_create_is_in_docker_s_Warnings()
    {
        await using var api = await DockerApiHarness.StartAsync();
        api.Host.Containers.BeforeCreate = _ => Portal.Compute.Teams.PolicyWarnings.Add("Team 'blue' may use VM isolation (HyperV) only. Allowed for now: the policy's mode is Warn.");

        var (created, body) = await api.PostAsync("containers/create?name=warned", """{"Image":"busybox"}""");

        Assert.Equal(201, created);
        Assert.Equal(["Team 'blue' may use VM isolation (HyperV) only. Allowed for now: the policy's mode is Warn."],
            body.GetProperty("Warnings").EnumerateArray().Select(w => w.GetString()));
    }

    [Fact]
    public async Task Create_then_start_then_stop_then_remove_as_the_cli_does()
    {
        await using var api = await DockerApiHarness.StartAsync();

        var (created, createBody) = await api.PostAsync(
            "v1.50/containers/create?name=web",
            """{"Image":"busybox","Cmd":["sleep","60"],"Env":["A=1"],"Labels":{"team":"x"},"HostConfig":{"Isolation":"hyperv","Memory":67108864,"NanoCpus":1500000000,"AutoRemove":true}}""");
        Assert.Equal(201, created);
        var id = createBody.GetProperty("Id").GetString()!;
        Assert.Equal(0, createBody.GetProperty("Warnings").GetArrayLength());

        var spec = Assert.Single(api.Host.Containers.CreatedSpecs);
        Assert.Equal("web", spec.Name);
        Assert.Equal(RuntimeType.HyperV, spec.RuntimeType);
        Assert.Equal(["sleep", "60"], spec.Command);
        Assert.Equal(64L << 20, spec.Limits.MemoryBytes);
        Assert.Equal(1.5, spec.Limits.Cpus);
        Assert.Equal("true", spec.Labels[DockerEngine.AutoRemoveLabel]);

        Assert.Equal(0, (await api.GetAsync("containers/json")).Body.GetArrayLength()); // created, not running
        Assert.Equal(204, (await api.PostAsync($"containers/{id[..12]}/start")).Status);
        Assert.Equal(304, (await api.PostAsync("containers/web/start")).Status); // dockerd: already started

        var (_, running) = await api.GetAsync("containers/json");
        var row = Assert.Single(running.EnumerateArray());
        Assert.Equal("/web", row.GetProperty("Names")[0].GetString());
        Assert.Equal("running", row.GetProperty("State").GetString());
        Assert.Equal("hyperv", row.GetProperty("Labels").GetProperty(DockerEngine.IsolationLabel).GetString());
        Assert.Equal("x", row.GetProperty("Labels").GetProperty("team").GetString());
        Assert.False(row.GetProperty("Labels").TryGetProperty(DockerEngine.AutoRemoveLabel, out _)); // engine-internal

        Assert.Equal(409, (await api.DeleteAsync("containers/web")).Status); // running, no force
        Assert.Equal(204, (await api.PostAsync("containers/web/stop?t=1")).Status);
        Assert.Equal(304, (await api.PostAsync("containers/web/stop")).Status);
        Assert.Equal(204, (await api.DeleteAsync("containers/web")).Status);
        Assert.Empty(api.Host.Containers.ListContainers());
    }

    [Fact]
    public async Task Inspect_shows_isolation_state_limits_and_the_network()
    {
        await using var api = await DockerApiHarness.StartAsync();
        var container = await api.Host.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "db",
            Image = "busybox",
            RuntimeType = RuntimeType.Default,
            Command = ["sh"],
            Limits = new ContainerLimits { MemoryBytes = 1 << 30, PidsLimit = 100 },
        });

        var (status, body) = await api.GetAsync("containers/db/json");

        Assert.Equal(200, status);
        Assert.Equal(container.Id, body.GetProperty("Id").GetString());
        Assert.Equal("/db", body.GetProperty("Name").GetString());
        Assert.Equal("created", body.GetProperty("State").GetProperty("Status").GetString());
        Assert.False(body.GetProperty("State").GetProperty("Running").GetBoolean());
        var hostConfig = body.GetProperty("HostConfig");
        Assert.Equal("process", hostConfig.GetProperty("Isolation").GetString());
        Assert.Equal(1L << 30, hostConfig.GetProperty("Memory").GetInt64());
        Assert.Equal(100, hostConfig.GetProperty("PidsLimit").GetInt64());
        Assert.Equal("10.88.0.1", body.GetProperty("NetworkSettings").GetProperty("Gateway").GetString());
    }

    [Fact]
    public async Task List_filters_by_isolation_status_and_name_and_honours_all_and_limit()
    {
        await using var api = await DockerApiHarness.StartAsync();
        var containers = api.Host.Containers;
        await containers.CreateContainerAsync(new ContainerCreateSpec { Name = "p1", Image = "busybox", RuntimeType = RuntimeType.Default });
        await containers.CreateContainerAsync(new ContainerCreateSpec { Name = "v1", Image = "busybox", RuntimeType = RuntimeType.HyperV });
        await containers.StartContainerAsync("v1");

        Assert.Equal(["/v1"], Names((await api.GetAsync("containers/json")).Body));
        Assert.Equal(["/p1", "/v1"], Names((await api.GetAsync("containers/json?all=1")).Body).Order());
        var isolation = Uri.EscapeDataString("""{"isolation":["process"]}""");
        Assert.Equal(["/p1"], Names((await api.GetAsync($"containers/json?all=true&filters={isolation}")).Body));
        var status = Uri.EscapeDataString("""{"status":{"created":true}}""");
        Assert.Equal(["/p1"], Names((await api.GetAsync($"containers/json?filters={status}")).Body));
        Assert.Single(Names((await api.GetAsync("containers/json?limit=1")).Body));
    }

    [Theory]
    [InlineData("{", "invalid filters: not valid JSON")]
    [InlineData("[]", "invalid filters: expected a JSON object")]
    [InlineData("""{"name":[1]}""", "invalid filters: values must be strings")]
    [InlineData("""{"volume":["x"]}""", "invalid filter 'volume'")]
    public async Task Bad_filters_are_400_with_docker_s_message(string filters, string message)
    {
        await using var api = await DockerApiHarness.StartAsync();

        var (status, body) = await api.GetAsync("containers/json?filters=" + Uri.EscapeDataString(filters));

        Assert.Equal(400, status);
        Assert.StartsWith(message, DockerApiHarness.Message(body), StringComparison.Ordinal);
    }

    private static IEnumerable<string> Names(JsonElement rows) => rows.EnumerateArray().Select(r => r.GetProperty("Names")[0].GetString()!).ToList();
}
