using System.Net;
using System.Text;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests;

/// <summary>The REST API's `security` object on a real agent: honoured in the running container and its execs, refused with a problem detail when the isolation cannot honour it.</summary>
[Trait("Requires", "root")]
public sealed class RestSecurityTests : RunningAgent
{
    [RootFact]
    public async Task Security_options_through_rest_reach_the_container_and_its_execs()
    {
        var created = await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec
        {
            Name = "rest-locked",
            Image = "busybox",
            RuntimeType = RuntimeType.Default,
            Command = ["sleep", "300"],
            Security = new ContainerSecurity { CapabilityDrop = ["all"], ReadOnlyRootFilesystem = true, Tmpfs = [new TmpfsMount { Path = "/run" }] },
        });
        Assert.Equal(["ALL"], created.Security.CapabilityDrop);
        await Agent.PostAsync<ContainerInfo>("api/containers/rest-locked/start");

        var exec = await Agent.PostAsync<ExecResult>("api/containers/rest-locked/exec", new ExecStart { Command = ["sh", "-c", "grep CapEff /proc/self/status; touch /x || echo ro; touch /run/y && echo tmpfs"] });

        Assert.Contains("CapEff:\t0000000000000000", exec.Stdout);
        Assert.Contains("ro\n", exec.Stdout);
        Assert.Contains("tmpfs\n", exec.Stdout);
        await Agent.Socket.DeleteAsync("api/containers/rest-locked?force=true");
    }

    [RootFact]
    public async Task A_capability_outside_the_policy_is_a_problem_detail()
    {
        var body = """{"image":"busybox","runtimeType":"Default","command":["true"],"security":{"capabilityAdd":["SYS_ADMIN"]}}""";

        using var response = await Agent.Socket.PostAsync("api/containers", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("InvalidArgument", text);
        Assert.Contains("Adding CAP_SYS_ADMIN is not allowed under process isolation", text);
    }
}
