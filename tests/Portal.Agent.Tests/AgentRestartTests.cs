using System.Text.RegularExpressions;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

[Trait("Requires", "root")]
public sealed class AgentRestartTests
{
    [RootFact]
    public async Task Killing_the_agent_loses_no_container_and_restart_re_adopts_them()
    {
        var sandbox = new TestSandbox();
        try
        {
            await using (var agent = new AgentProcess(sandbox))
            {
                await agent.StartAsync();
                var ticker = await CreateAndStartAsync(agent, "ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done");
                var quitter = await CreateAndStartAsync(agent, "quitter", "sleep 1; exit 17");
                var sleeper = await CreateAndStartAsync(agent, "sleeper", "exec sleep 600");

                await agent.KillAsync(); // SIGKILL: nothing of the agent's shutdown runs
                await Task.Delay(2500); // the quitter exits while no agent is watching; the ticker keeps logging

                await agent.StartAsync();
                var containers = (await agent.GetAsync<List<ContainerView>>("api/containers")).Select(v => v.Container).ToList();
                Assert.Equal(3, containers.Count);

                var tickerNow = containers.Single(c => c.Name == "ticker");
                Assert.Equal(ContainerState.Running, tickerNow.State);
                Assert.Equal(ticker.HostPid, tickerNow.HostPid);
                Assert.Equal(ContainerState.Running, containers.Single(c => c.Name == "sleeper").State);

                var quitterNow = containers.Single(c => c.Name == "quitter");
                Assert.Equal(ContainerState.Stopped, quitterNow.State);
                Assert.Equal(17, quitterNow.ExitCode); // the real exit code, recorded by conmon while the agent was down

                // Logs are continuous across the agent's death: every tick, in order, none missing.
                await Task.Delay(300);
                var logs = await agent.Socket.GetStringAsync("api/containers/ticker/logs");
                var ticks = Regex.Matches(logs, @"tick (\d+)").Select(m => int.Parse(m.Groups[1].Value)).ToList();
                Assert.True(ticks.Count > 25, $"expected ticks from before, during and after the restart; got {ticks.Count}");
                Assert.Equal(Enumerable.Range(0, ticks.Count), ticks);

                // The re-adopted container is fully usable: exec, stop, remove.
                var exec = await agent.PostAsync<ExecResult>("api/containers/sleeper/exec", new { command = new[] { "sh", "-c", "echo still here; exit 4" } });
                Assert.Equal(4, exec.ExitCode);
                Assert.Equal("still here\n", exec.Stdout);

                var stopped = await agent.PostAsync<ContainerInfo>("api/containers/ticker/stop?timeout=1");
                Assert.Equal(ContainerState.Stopped, stopped.State);
                foreach (var name in new[] { "ticker", "quitter", "sleeper" })
                {
                    var removed = await agent.Socket.DeleteAsync($"api/containers/{name}?force=true");
                    Assert.True(removed.IsSuccessStatusCode, await removed.Content.ReadAsStringAsync());
                }

                Assert.Empty(TestSandbox.MountsUnder(sandbox.Options.RunRoot));
                Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(sandbox.Tag, StringComparison.Ordinal));
                Assert.DoesNotContain(LoopBackingFiles(), f => f.Contains(sandbox.Tag, StringComparison.Ordinal));
            }
        }
        finally
        {
            sandbox.Clean();
        }
    }

    [RootFact]
    [Trait("Requires", "qemu")]
    public async Task Killing_the_agent_keeps_a_VM_isolated_container_and_restart_re_adopts_it()
    {
        await GuestBuild.EnsureBuiltAsync(); // exactly-once needs a guest of this checkout's protocol
        var sandbox = new TestSandbox();
        try
        {
            await using var agent = new AgentProcess(sandbox);
            await agent.StartAsync();
            // Ticks come fast, so the kill is likely to find output on its way from the guest to the log.
            await CreateAndStartAsync(agent, "vm-ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.02; done", RuntimeType.HyperV);
            var worker = (await agent.GetAsync<List<ComputeSystemInfo>>("api/compute-systems?type=VirtualMachine")).Single().HostPid;

            for (var i = 0; i < 100 && !(await agent.Socket.GetStringAsync("api/containers/vm-ticker/logs")).Contains("tick 3", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }

            await agent.KillAsync();
            await Task.Delay(2000); // the guest keeps ticking and buffers its output while no agent listens
            await agent.StartAsync();

            var again = (await agent.GetAsync<ContainerView>("api/containers/vm-ticker")).Container;
            Assert.Equal(ContainerState.Running, again.State);
            Assert.Equal(worker, (await agent.GetAsync<List<ComputeSystemInfo>>("api/compute-systems?type=VirtualMachine")).Single().HostPid);
            var exec = await agent.PostAsync<ExecResult>("api/containers/vm-ticker/exec", new { command = new[] { "sh", "-c", "uname -r; exit 5" } });
            Assert.Equal(5, exec.ExitCode);
            Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), exec.Stdout.Trim()); // the guest's kernel

            await Task.Delay(500);
            var logs = await agent.Socket.GetStringAsync("api/containers/vm-ticker/logs");
            var ticks = Regex.Matches(logs, @"tick (\d+)").Select(m => int.Parse(m.Groups[1].Value)).ToList();
            Assert.True(ticks.Count > 50, $"expected ticks from before, during and after the restart; got {ticks.Count}");
            // Every tick exactly once and in order: the guest keeps output until the agent acknowledges it is in the
            // log, sends it again to the next agent, and that one drops what the log already has (protocol 3).
            Assert.True(Enumerable.Range(0, ticks.Count).SequenceEqual(ticks), "ticks lost or repeated: " + string.Join(",", ticks));

            var removed = await agent.Socket.DeleteAsync("api/containers/vm-ticker?force=true");
            Assert.True(removed.IsSuccessStatusCode, await removed.Content.ReadAsStringAsync());
            for (var i = 0; i < 50 && Directory.Exists($"/proc/{worker}"); i++)
            {
                await Task.Delay(100);
            }

            Assert.False(Directory.Exists($"/proc/{worker}"), "the VM worker outlived its container");
            Assert.Empty(TestSandbox.MountsUnder(sandbox.Options.RunRoot));
        }
        finally
        {
            sandbox.Clean();
        }
    }

    private static async Task<ContainerInfo> CreateAndStartAsync(AgentProcess agent, string name, string script, RuntimeType runtimeType = RuntimeType.Default)
    {
        await agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = name, Image = "busybox", Command = ["sh", "-c", script], RuntimeType = runtimeType });
        return await agent.PostAsync<ContainerInfo>($"api/containers/{name}/start");
    }

    private static IEnumerable<string> LoopBackingFiles() =>
        Directory.EnumerateDirectories("/sys/block", "loop*")
            .Select(d => Path.Combine(d, "loop", "backing_file"))
            .Where(File.Exists)
            .Select(File.ReadAllText);
}
