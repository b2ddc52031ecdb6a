using System.Text;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Tests.Integration;

/// <summary>What a process inside a process-isolated container can and cannot do, read from inside.</summary>
[Trait("Requires", "root")]
public sealed class IsolationTests(ComputeFixture fixture) : IClassFixture<ComputeFixture>
{
    private IComputeHost Compute => fixture.Compute;

    // Docker's 14 default capabilities as a bit mask (CAP_CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6,
    // SETUID 7, SETPCAP 8, NET_BIND_SERVICE 10, NET_RAW 13, SYS_CHROOT 18, MKNOD 27, AUDIT_WRITE 29, SETFCAP 31).
    private const ulong DockerDefaultCaps = 0x00000000a80425fb;

    [RootFact]
    public async Task Security_defaults_hold_inside_the_container()
    {
        var info = await fixture.RunAsync("secure", "sleep", "300");
        try
        {
            var (_, status, _) = await ComputeFixture.ExecAsync(Compute, info.Id, "cat", "/proc/self/status");
            var fields = status.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim());
            Assert.Equal(DockerDefaultCaps, Convert.ToUInt64(fields["CapEff"], 16));
            Assert.Equal(DockerDefaultCaps, Convert.ToUInt64(fields["CapBnd"], 16));
            Assert.Equal("1", fields["NoNewPrivs"]);
            Assert.Equal("2", fields["Seccomp"]);

            var kcore = await ComputeFixture.ExecAsync(Compute, info.Id, "sh", "-c", "head -c 16 /proc/kcore | wc -c");
            Assert.Equal("0", kcore.Stdout.Trim()); // masked: bound to /dev/null

            var sysrq = await ComputeFixture.ExecAsync(Compute, info.Id, "sh", "-c", "echo h > /proc/sysrq-trigger");
            Assert.NotEqual(0, sysrq.ExitCode); // read-only

            var mount = await ComputeFixture.ExecAsync(Compute, info.Id, "mount", "-t", "tmpfs", "none", "/mnt");
            Assert.NotEqual(0, mount.ExitCode);

            var hostname = await ComputeFixture.ExecAsync(Compute, info.Id, "hostname");
            Assert.Equal("secure", hostname.Stdout.Trim());

            // Own namespaces: none of pid, mnt, uts, ipc, net is the host's.
            foreach (var ns in new[] { "pid", "mnt", "uts", "ipc", "net" })
            {
                var inside = await ComputeFixture.ExecAsync(Compute, info.Id, "readlink", $"/proc/1/ns/{ns}");
                Assert.NotEqual(new FileInfo($"/proc/1/ns/{ns}").LinkTarget, inside.Stdout.Trim());
            }
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }

    [RootFact]
    public async Task A_fork_loop_stops_at_the_pids_limit_and_the_host_is_unaffected()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "forkbomb",
            Image = "busybox",
            Command = ["sleep", "300"],
            Limits = new ContainerLimits { PidsLimit = 64 },
        });
        await Compute.Containers.StartContainerAsync(created.Id);
        try
        {
            // Forks far past the limit; the shell's forks start failing once the container holds 64 processes.
            var bomb = await ComputeFixture.ExecAsync(Compute, created.Id, "sh", "-c", "for i in $(seq 200); do sleep 300 </dev/null >/dev/null 2>&1 & done").WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Contains("can't fork", bomb.Stderr, StringComparison.OrdinalIgnoreCase);

            var stats = await Compute.Containers.GetStatisticsAsync(created.Id);
            Assert.Equal(64, stats.PidsLimit);
            Assert.InRange(stats.Pids, 63, 64); // the limit, less the loop's own shell that has exited
            Assert.InRange((await Compute.Containers.GetProcessesAsync(created.Id)).Count, 63, 64);

            // The host still forks freely.
            using var host = System.Diagnostics.Process.Start("true")!;
            await host.WaitForExitAsync();
            Assert.Equal(0, host.ExitCode);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootFact]
    public async Task A_process_inside_is_in_the_host_process_table_with_the_reported_host_pid()
    {
        var info = await fixture.RunAsync("visible", "sh", "-c", "exec sleep 3001");
        try
        {
            await using var exec = await Compute.Containers.ExecAsync(info.Id, new ProcessSpec { Command = ["sleep", "3002"] });
            ContainerProcessInfo? marker = null;
            for (var i = 0; i < 50 && marker is null; i++)
            {
                await Task.Delay(100);
                marker = (await Compute.Containers.GetProcessesAsync(info.Id)).FirstOrDefault(p => p.CommandLine == "sleep 3002");
            }

            Assert.NotNull(marker);
            var hostPid = Assert.IsType<int>(marker.HostPid);
            Assert.Equal("sleep 3002", File.ReadAllText($"/proc/{hostPid}/cmdline").Replace('\0', ' ').Trim());
            var nspid = File.ReadAllLines($"/proc/{hostPid}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal))
                .Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[1..].Select(int.Parse).ToArray();
            Assert.Equal(hostPid, nspid[0]);
            Assert.Equal(marker.Pid, nspid[^1]);
            Assert.Equal("root", marker.User);

            var first = (await Compute.Containers.GetProcessesAsync(info.Id)).Single(p => p.Pid == 1);
            Assert.Equal(info.HostPid, first.HostPid);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }

    [RootFact]
    public async Task The_host_sees_a_process_isolated_container_marker_with_its_container_pid()
    {
        var info = await fixture.RunAsync("demo-process", "sh", "-c", "exec sleep 4242");
        try
        {
            var seen = Compute.HostProcesses.FindHostProcesses("sleep 4242");
            var marker = Assert.Single(seen);
            Assert.Equal(info.Id, marker.ContainerId);
            Assert.Equal(1, marker.ContainerPid);
            Assert.Equal(info.HostPid, marker.Pid);
            Assert.False(marker.IsVmWorker);

            var view = await Compute.HostProcesses.GetIsolationViewAsync("demo-process");
            var inside = Assert.Single(view.Inside);
            Assert.Equal(inside.HostPid, Assert.Single(view.SeenFromHost).Pid);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }

    [RootFact]
    public async Task Exec_with_a_terminal_runs_a_shell_and_resizes()
    {
        var info = await fixture.RunAsync("tty", "sleep", "300");
        try
        {
            await using var shell = await Compute.Containers.ExecAsync(info.Id, new ProcessSpec { Command = ["sh"], Tty = true, Stdin = true, Columns = 100, Rows = 30 });
            var output = new StringBuilder();
            var reader = Task.Run(async () =>
            {
                var buffer = new byte[4096];
                int n;
                while ((n = await shell.StandardOutput.ReadAsync(buffer)) > 0)
                {
                    lock (output)
                    {
                        output.Append(Encoding.UTF8.GetString(buffer, 0, n));
                    }
                }
            });

            async Task SendAndWaitAsync(string line, string expected)
            {
                await shell.StandardInput!.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
                var deadline = DateTime.UtcNow.AddSeconds(15);
                while (DateTime.UtcNow < deadline)
                {
                    lock (output)
                    {
                        if (output.ToString().Contains(expected, StringComparison.Ordinal))
                        {
                            return;
                        }
                    }

                    await Task.Delay(50);
                }

                Assert.Fail($"'{expected}' did not appear; terminal showed: {output}");
            }

            bool Shows(string text)
            {
                lock (output)
                {
                    return output.ToString().Contains(text, StringComparison.Ordinal);
                }
            }

            await SendAndWaitAsync("tty; stty size | sed 's/ /x/'", "30x100");
            await SendAndWaitAsync("", "/dev/pts/");
            shell.Resize(120, 40);
            // The runtime relays SIGWINCH to the inner terminal on its own time: ask until the new size shows.
            var asked = DateTime.UtcNow;
            while (!Shows("40x120") && DateTime.UtcNow - asked < TimeSpan.FromSeconds(15))
            {
                await SendAndWaitAsync("stty size | sed 's/ /x/'; echo asked", "asked");
            }

            Assert.True(Shows("40x120"), $"the resize did not reach the container's terminal; it showed: {output}");
            await shell.StandardInput!.WriteAsync(Encoding.UTF8.GetBytes("exit 5\n"));
            Assert.Equal(5, await shell.WaitAsync().WaitAsync(TimeSpan.FromSeconds(15)));
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }

    [RootFact]
    public async Task Exec_with_a_terminal_has_its_size_before_the_process_runs()
    {
        var info = await fixture.RunAsync("ttysize", "sleep", "300");
        try
        {
            for (var i = 0; i < 5; i++)
            {
                await using var probe = await Compute.Containers.ExecAsync(info.Id, new ProcessSpec { Command = ["stty", "size"], Tty = true, Columns = 123, Rows = 45 });
                var seen = await new StreamReader(probe.StandardOutput).ReadToEndAsync();
                Assert.Equal(0, await probe.WaitAsync());
                Assert.Contains("45 123", seen);
            }
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }
}
