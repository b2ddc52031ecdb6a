using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Integration;

[Trait("Requires", "root")]
public sealed class ProcessContainerTests(ComputeFixture fixture) : IClassFixture<ComputeFixture>
{
    private IComputeHost Compute => fixture.Compute;

    [RootFact]
    public async Task Create_start_exec_logs_stop_remove_round_trip()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "roundtrip",
            Image = "busybox",
            Command = ["sh", "-c", "trap 'echo bye; exit 3' TERM; echo hello from $(hostname); echo oops >&2; sleep 300 & wait"],
        });
        Assert.Equal(ContainerState.Created, created.State);
        Assert.Equal(RuntimeType.Default, created.RuntimeType);

        var started = await Compute.Containers.StartContainerAsync("roundtrip");
        Assert.Equal(ContainerState.Running, started.State);
        Assert.NotNull(started.HostPid);

        var (code, stdout, stderr) = await ComputeFixture.ExecAsync(Compute, "roundtrip", "sh", "-c", "echo out; echo err >&2; exit 7");
        Assert.Equal(7, code);
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);

        var logs = await ReadLogsAsync("roundtrip", follow: false, until: l => l.Count >= 2);
        Assert.Contains(logs, l => l is { Stream: LogStream.Stdout, Text: "hello from roundtrip\n" });
        Assert.Contains(logs, l => l is { Stream: LogStream.Stderr, Text: "oops\n" });

        var stopped = await Compute.Containers.ShutdownContainerAsync("roundtrip", TimeSpan.FromSeconds(5));
        Assert.Equal(ContainerState.Stopped, stopped.State);
        Assert.Equal(3, stopped.ExitCode); // the graceful path: SIGTERM reached the trap
        Assert.Equal("stopped by request", stopped.StopReason);

        await Compute.Containers.RemoveContainerAsync("roundtrip");
        await Assert.ThrowsAsync<ComputeException>(() => Task.FromResult(Compute.Containers.GetContainer("roundtrip")));
        Assert.False(Directory.Exists(Path.Combine(fixture.Options.RunRoot, "containers", created.Id)));
        Assert.False(Directory.Exists(Path.Combine(fixture.Options.StateRoot, "containers", created.Id)));
    }

    [RootFact]
    public async Task Exit_code_of_the_first_process_comes_back_exactly()
    {
        var info = await fixture.RunAsync("exits42", "sh", "-c", "echo bye; exit 42");
        var done = await Compute.Containers.WaitAsync(info.Id).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ContainerState.Stopped, done.State);
        Assert.Equal(42, done.ExitCode);
        var logs = await ReadLogsAsync(info.Id, follow: false, until: _ => false);
        Assert.Equal(["bye\n"], logs.Select(l => l.Text));
        await Compute.Containers.RemoveContainerAsync(info.Id);
    }

    [RootFact]
    public async Task Stop_kills_a_process_that_ignores_SIGTERM_after_the_timeout()
    {
        // PID 1 of a PID namespace ignores SIGTERM unless it handles it.
        var info = await fixture.RunAsync("stubborn", "sleep", "300");
        var stopped = await Compute.Containers.ShutdownContainerAsync(info.Id, TimeSpan.FromMilliseconds(300));
        Assert.Equal(137, stopped.ExitCode);
        Assert.StartsWith("stopped by request; killed after ignoring SIGTERM", stopped.StopReason);
        await Compute.Containers.RemoveContainerAsync(info.Id);
    }

    [RootFact]
    public async Task A_container_with_a_terminal_runs_and_logs_its_output()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "with-tty", Image = "busybox", Tty = true, Command = ["sh", "-c", "[ -t 1 ] && echo on a terminal; echo $TERM; sleep 0.5; stty size; exit 9"] });
        await Compute.Containers.StartContainerAsync(created.Id);
        var done = await Compute.Containers.WaitAsync(created.Id).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(9, done.ExitCode);
        var logs = await ReadLogsAsync(created.Id, follow: false, until: l => l.Count >= 3);
        Assert.Equal("on a terminal\nxterm\n24 80\n", string.Concat(logs.Select(l => l.Text))); // sized 80x24 unless a client asked otherwise
        await Compute.Containers.RemoveContainerAsync(created.Id);
    }

    [RootFact]
    public async Task Attaching_before_start_sees_all_output_and_feeds_stdin()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "attached", Image = "busybox", OpenStdin = true, Command = ["sh", "-c", "echo ready; read line; echo got $line; exit 6"] });
        await using var attachment = await Compute.Containers.AttachAsync(created.Id, includeEarlierOutput: true, stdin: true);
        var output = new List<string>();
        var reading = Task.Run(async () =>
        {
            await foreach (var entry in attachment.Output)
            {
                output.Add(entry.Text);
            }
        });
        await Compute.Containers.StartContainerAsync(created.Id);
        await attachment.Stdin!.WriteAsync("hallo\n"u8.ToArray());
        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["ready\n", "got hallo\n"], output);
        Assert.Equal(6, (await Compute.Containers.WaitAsync(created.Id)).ExitCode);
        await Compute.Containers.RemoveContainerAsync(created.Id);
    }

    [RootFact]
    public async Task Closing_stdin_ends_a_process_that_reads_to_the_end_and_the_terminal_resizes()
    {
        var cat = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "cat", Image = "busybox", OpenStdin = true, Command = ["cat"] });
        await using (var attachment = await Compute.Containers.AttachAsync(cat.Id, includeEarlierOutput: true, stdin: true))
        {
            await Compute.Containers.StartContainerAsync(cat.Id);
            await attachment.Stdin!.WriteAsync("one\n"u8.ToArray());
        }

        Assert.Equal(0, (await Compute.Containers.WaitAsync(cat.Id).WaitAsync(TimeSpan.FromSeconds(30))).ExitCode);

        var shell = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "tty-shell", Image = "busybox", Tty = true, OpenStdin = true, Command = ["sh"] });
        await Compute.Containers.StartContainerAsync(shell.Id);
        await using (var attachment = await Compute.Containers.AttachAsync(shell.Id, includeEarlierOutput: false, stdin: true))
        {
            await attachment.ResizeAsync(132, 43);
            await attachment.Stdin!.WriteAsync("stty size; exit 0\n"u8.ToArray());
            var seen = "";
            await foreach (var entry in attachment.Output.WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token))
            {
                seen += entry.Text;
            }

            Assert.Contains("43 132", seen);
        }

        await Compute.Containers.RemoveContainerAsync(shell.Id, force: true);
        await Compute.Containers.RemoveContainerAsync(cat.Id);
    }

    [RootFact]
    public async Task A_restarted_container_keeps_what_it_wrote()
    {
        var info = await fixture.RunAsync("keeps", "sleep", "300");
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal(0, (await ComputeFixture.ExecAsync(Compute, info.Id, "sh", "-c", $"echo {token} > /root/note")).ExitCode);
        await Compute.Containers.TerminateContainerAsync(info.Id);
        Assert.Empty(TestSandbox.MountsUnder(Path.Combine(fixture.Options.RunRoot, "containers", info.Id))); // stopped: nothing mounted

        await Compute.Containers.StartContainerAsync(info.Id);
        var (_, note, _) = await ComputeFixture.ExecAsync(Compute, info.Id, "cat", "/root/note");
        Assert.Equal(token, note.Trim());
        await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
    }

    [RootFact]
    public async Task A_fifo_or_a_host_symlink_at_etc_passwd_blocks_nothing_and_reads_no_host_file()
    {
        // The container points its /etc/group at the host's /etc/shadow (by a climbing relative symlink).
        var info = await fixture.RunAsync("fifo-passwd", "sh", "-c", "rm /etc/group && ln -s ../../../../../etc/shadow /etc/group && echo ready && sleep 300");
        try
        {
            await ReadLogsAsync(info.Id, follow: false, until: l => l.Any(e => e.Text == "ready\n"));
            var deadline = TimeSpan.FromSeconds(30);
            var group = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.ExecAsync(info.Id, new ProcessSpec { Command = ["true"], User = "0:shadow" }).WaitAsync(deadline));
            Assert.Contains("Group 'shadow' is not in the image's /etc/group", group.Message); // the host's shadow group was not read

            // Then its /etc/passwd becomes a FIFO: exec and a restart are refused at once and say why; the process list still works.
            var (code, _, stderr) = await ComputeFixture.ExecAsync(Compute, info.Id, "sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd").WaitAsync(deadline);
            Assert.True(code == 0, stderr);
            var exec = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.ExecAsync(info.Id, new ProcessSpec { Command = ["true"] }).WaitAsync(deadline));
            Assert.Contains("/etc/passwd cannot be used: it is a FIFO", exec.Message);
            var processes = await Compute.Containers.GetProcessesAsync(info.Id).WaitAsync(deadline);
            Assert.Contains(processes, p => p.CommandLine.Contains("sleep 300", StringComparison.Ordinal) && p.User == "0");

            await Compute.Containers.TerminateContainerAsync(info.Id).WaitAsync(deadline);
            var start = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.StartContainerAsync(info.Id).WaitAsync(deadline));
            Assert.Contains("/etc/passwd cannot be used: it is a FIFO", start.Message);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(info.Id, force: true);
        }
    }

    private async Task<List<LogEntry>> ReadLogsAsync(string container, bool follow, Func<List<LogEntry>, bool> until)
    {
        var result = new List<LogEntry>();
        for (var attempt = 0; attempt < 50; attempt++)
        {
            result.Clear();
            await foreach (var entry in Compute.Containers.ReadLogsAsync(container, tail: null, follow))
            {
                result.Add(entry);
            }

            if (until(result))
            {
                break;
            }

            await Task.Delay(100);
        }

        return result;
    }
}
