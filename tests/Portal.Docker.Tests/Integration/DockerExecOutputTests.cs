using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// docker exec and attach stream through a hijacked connection: a client that stops reading holds the process back
/// (it blocks on its pipe) instead of growing the agent. Before issue 13 this was checked by reading the code only.
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerExecOutputTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task A_hijacked_exec_whose_client_reads_nothing_blocks_the_process_and_the_agent_stays_small()
    {
        var name = "zero-" + Guid.NewGuid().ToString("N")[..8];
        var run = await Agent.DockerAsync("run", "-d", "--name", name, "busybox", "sleep", "600");
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            var before = Agent.Agent.ResidentBytes;
            var created = await Agent.Http.PostAsJsonAsync($"containers/{name}/exec", new { AttachStdout = true, AttachStderr = true, Cmd = new[] { "head", "-c", "1073741824", "/dev/zero" } });
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
            var execId = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("Id").GetString();

            // The docker CLI's hijack, by hand: upgrade, read the 101 and then nothing at all.
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveBufferSize = 4096 };
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Agent.SocketPath));
            const string Body = """{"Detach":false,"Tty":false}""";
            await socket.SendAsync(Encoding.ASCII.GetBytes($"POST /exec/{execId}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {Body.Length}\r\n\r\n{Body}"));
            var head = new byte[256];
            var got = await socket.ReceiveAsync(head);
            Assert.StartsWith("HTTP/1.1 101", Encoding.ASCII.GetString(head, 0, got), StringComparison.Ordinal);

            // The process runs, blocked on its pipe, while the agent holds a bounded amount.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && !await RunsAsync(name, "head -c"))
            {
                await Task.Delay(100);
            }

            Assert.True(await RunsAsync(name, "head -c"), "the exec'd process never showed up");
            long peak = 0;
            for (var i = 0; i < 20; i++)
            {
                peak = Math.Max(peak, Agent.Agent.ResidentBytes - before);
                await Task.Delay(100);
            }

            Assert.True(peak < 96L << 20, $"the agent grew by {peak >> 20} MiB while its docker client read nothing");
            Assert.True(await RunsAsync(name, "head -c"), "the process should still be blocked, not finished: nobody read its gigabyte");
        }
        finally
        {
            await Agent.DockerAsync("rm", "-f", name);
        }
    }

    private async Task<bool> RunsAsync(string container, string commandLine)
    {
        var top = await Agent.DockerAsync("top", container);
        return top.ExitCode == 0 && top.Stdout.Contains(commandLine, StringComparison.Ordinal);
    }
}
