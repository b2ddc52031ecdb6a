using System.Net;
using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests;

/// <summary>`cat /dev/zero` from an Operate key: exec output never grows the agent without bound.</summary>
[Trait("Requires", "root")]
public sealed class ExecOutputTests : RunningAgent
{
    [RootFact]
    public async Task REST_exec_of_endless_output_is_refused_at_the_limit_and_the_agent_stays_small()
    {
        await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "zero", Image = "busybox", Command = ["sleep", "600"] });
        await Agent.PostAsync<ContainerInfo>("api/containers/zero/start");
        var before = Rss(Agent.Pid);

        var response = await Agent.Socket.PostAsJsonAsync("api/containers/zero/exec", new { command = new[] { "head", "-c", "1073741824", "/dev/zero" } });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Contains("'head' wrote more than 16 MiB", body);

        // Reading 1 GiB to its end used to keep it (twice, as a string) in the agent.
        var grown = Rss(Agent.Pid) - before;
        Assert.True(grown < 96L << 20, $"the agent grew by {grown >> 20} MiB");

        // The agent and the container are fine afterwards.
        var exec = await Agent.PostAsync<ExecResult>("api/containers/zero/exec", new { command = new[] { "echo", "ok" } });
        Assert.Equal("ok\n", exec.Stdout);
    }

    private static long Rss(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
}
