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
        var before = Agent.ResidentBytes;

        var response = await Agent.Socket.PostAsJsonAsync("api/containers/zero/exec", new { command = new[] { "head", "-c", "1073741824", "/dev/zero" } });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        Assert.Contains("'head' wrote more than 16 MiB", body);

        // Reading 1 GiB to its end used to keep it (twice, as a string) in the agent.
        var grown = Agent.ResidentBytes - before;
        Assert.True(grown < 96L << 20, $"the agent grew by {grown >> 20} MiB");

        // The agent and the container are fine afterwards.
        var exec = await Agent.PostAsync<ExecResult>("api/containers/zero/exec", new { command = new[] { "echo", "ok" } });
        Assert.Equal("ok\n", exec.Stdout);
    }

    [RootFact]
    public async Task A_hub_exec_client_that_stops_reading_slows_the_process_and_the_agent_stays_small()
    {
        await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "zero", Image = "busybox", Command = ["sleep", "600"] });
        await Agent.PostAsync<ContainerInfo>("api/containers/zero/start");
        var before = Agent.ResidentBytes;

        // A raw SignalR client (JSON protocol over a websocket) that starts the exec and then reads nothing at all:
        // the .NET client would read on and buffer in the test instead.
        using var socket = new System.Net.WebSockets.ClientWebSocket();
        var url = new Uri($"ws://127.0.0.1:{Agent.Port}/hubs/agent?access_token={Uri.EscapeDataString(Agent.AdminKey!)}");
        await socket.ConnectAsync(url, CancellationToken.None);
        await SendAsync(socket, """{"protocol":"json","version":1}""");
        var handshake = new byte[1024];
        var answer = await socket.ReceiveAsync(handshake, CancellationToken.None);
        Assert.Equal("{}\u001e", System.Text.Encoding.UTF8.GetString(handshake, 0, answer.Count));
        await SendAsync(socket, """{"type":4,"invocationId":"1","target":"Exec","arguments":["zero",{"command":["head","-c","1073741824","/dev/zero"]}],"streamIds":["2"]}""");

        // The output backs up to the process: it stays alive, blocked on its pipe, while the agent holds a bounded amount.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var processes = new List<ContainerProcessInfo>();
        while (DateTime.UtcNow < deadline && !processes.Any(p => p.CommandLine.StartsWith("head -c", StringComparison.Ordinal)))
        {
            processes = await Agent.GetAsync<List<ContainerProcessInfo>>("api/containers/zero/processes");
            await Task.Delay(100);
        }

        Assert.Contains(processes, p => p.CommandLine.StartsWith("head -c", StringComparison.Ordinal));
        long peak = 0;
        for (var i = 0; i < 20; i++)
        {
            peak = Math.Max(peak, Agent.ResidentBytes - before);
            await Task.Delay(100);
        }

        Assert.True(peak < 96L << 20, $"the agent grew by {peak >> 20} MiB while its hub client read nothing");
        Assert.Contains(await Agent.GetAsync<List<ContainerProcessInfo>>("api/containers/zero/processes"), p => p.CommandLine.StartsWith("head -c", StringComparison.Ordinal));
        socket.Abort();
    }

    private static Task SendAsync(System.Net.WebSockets.ClientWebSocket socket, string message) =>
        socket.SendAsync(System.Text.Encoding.UTF8.GetBytes(message + "\u001e"), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
}
