using System.Diagnostics;
using System.Text;
using Portal.Contracts.Guest;
using Portal.Tests.Shared;
using Xunit.Abstractions;

namespace Portal.Guest.Tests;

/// <summary>
/// The guest agent in a real VM (QEMU under TCG). Needs root for mkfs/mount of the disks, as in CI; as another user
/// both are skipped with <see cref="RootOnly.Reason"/>. Two boots in all: the agent's end to end, and the same kernel
/// booting a trivial busybox init, for the boot-time comparison.
/// </summary>
public sealed class GuestVmTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    [RootFact]
    [Trait("Requires", "root")]
    public async Task Agent_boots_runs_execs_survives_a_reconnect_and_powers_off_RequiresRoot()
    {
        var (kernel, initramfs, version) = await GuestVm.BuildGuestAsync();
        await using var vm = new GuestVm();
        await vm.CreateDisksAsync();
        try
        {
            uint runnerId;
            List<(uint Process, FrameKind Stream, ulong Sequence)> firstSequences;
            vm.Start(kernel, initramfs);
            var client = await GuestClient.ConnectAsync(vm.SocketPath, TimeSpan.FromSeconds(10));
            try
            {
                var hello = await client.RequestAsync(new HelloRequest(GuestProtocol.Version), Long);
                Assert.Null(hello.Error);
                Assert.Equal(version, hello.Kernel);
                var helloAt = vm.SinceStart.Elapsed;

                // The container's first process.
                var started = await client.RequestAsync(new StartContainerRequest
                {
                    Hostname = "box1",
                    ImageDevice = "/dev/vda",
                    ScratchDevice = "/dev/vdb",
                    Process = Spec("sh", "-c", "echo hello; uname -r; cat /etc/hostname 2>/dev/null; hostname"),
                });
                Assert.Null(started.Error);
                Assert.Equal(1u, started.ProcessId);
                var firstFrame = await client.Output.Reader.ReadAsync();
                var firstOutput = vm.SinceStart.Elapsed;
                Assert.Equal((FrameKind.Stdout, 1u), (firstFrame.Kind, firstFrame.Process));
                var text = new StringBuilder(Encoding.UTF8.GetString(firstFrame.Data));
                await client.ReadUntilAsync(1, "box1\nbox1\n", text, Long);
                Assert.Equal($"hello\n{version}\nbox1\nbox1\n", text.ToString());
                Assert.Equal(0, (await client.WaitExitAsync(1, Long)).ExitCode);
                output.WriteLine($"QEMU start -> Hello answered {helloAt.TotalSeconds:F2} s, -> first output of the container {firstOutput.TotalSeconds:F2} s");

                // A user from the container's passwd, with its supplementary group; a failing exec answers an error.
                var id = await client.RequestAsync(new ExecRequest(Spec("id") with { User = "app" }));
                Assert.Equal(2u, id.ProcessId);
                Assert.Contains("uid=1000(app) gid=1000(app) groups=10(wheel)", await client.ReadUntilAsync(2, "\n", new StringBuilder(), Long), StringComparison.Ordinal);
                Assert.Contains("not found", (await client.RequestAsync(new ExecRequest(Spec("no-such-program")))).Error, StringComparison.Ordinal);

                // A terminal: size, resize, exit code.
                var tty = await client.RequestAsync(new ExecRequest(Spec("sh") with { Tty = true, Stdin = true, Columns = 80, Rows = 24 }));
                var ttyId = tty.ProcessId!.Value;
                var screen = new StringBuilder();
                await client.SendStdinAsync(ttyId, "stty size\n");
                await client.ReadUntilAsync(ttyId, "24 80", screen, Long);
                Assert.Null((await client.RequestAsync(new ResizeRequest(ttyId, 100, 30))).Error);
                await client.SendStdinAsync(ttyId, "stty size; tty\n");
                await client.ReadUntilAsync(ttyId, "/dev/pts/", screen, Long);
                Assert.Contains("30 100", screen.ToString(), StringComparison.Ordinal);
                await client.SendStdinAsync(ttyId, "exit 3\n");
                Assert.Equal(3, (await client.WaitExitAsync(ttyId, Long)).ExitCode);

                // A file on the scratch disk, checked on the host after shutdown.
                var write = await client.RequestAsync(new ExecRequest(Spec("sh", "-c", "echo persisted > /data.txt")));
                Assert.Equal(0, (await client.WaitExitAsync(write.ProcessId!.Value, Long)).ExitCode);

                // A long runner that prints while the host is away.
                var runner = await client.RequestAsync(new ExecRequest(Spec("sh", "-c", "echo before; sleep 2; echo during; exec sleep 600")));
                runnerId = runner.ProcessId!.Value;
                await client.ReadUntilAsync(runnerId, "before\n", new StringBuilder(), Long);
                firstSequences = [.. client.Sequences];
                await client.DisposeAsync();
                await Task.Delay(TimeSpan.FromSeconds(4));
            }
            finally
            {
                await client.DisposeAsync();
            }

            client = await GuestClient.ConnectAsync(vm.SocketPath, TimeSpan.FromSeconds(10));
            await using (client)
            {
                Assert.Null((await client.RequestAsync(new HelloRequest(GuestProtocol.Version), Long)).Error);
                var replayed = new StringBuilder();
                await client.ReadUntilAsync(runnerId, "during\n", replayed, Long);
                // Kept while no host listened and sent on this connection; over both connections none is missing.
                var runnerSequences = firstSequences.Concat(client.Sequences).Where(s => s.Process == runnerId && s.Stream == FrameKind.Stdout).Select(s => s.Sequence).Distinct().Order().ToList();
                Assert.Equal(Enumerable.Range(1, runnerSequences.Count).Select(i => (ulong)i), runnerSequences);

                // Protocol 4: a Hello again on the same connection (the host's probe) restarts the session; a request
                // sent again under its id is answered with its first response and not run twice.
                Assert.Null((await client.RequestAsync(new HelloRequest(GuestProtocol.Version), Long)).Error);
                var once = new ExecRequest(Spec("sh", "-c", "echo ran >> /once.txt"));
                var first = await client.RequestAsync(once, Long, id: 7_000_001);
                Assert.Equal(0, (await client.WaitExitAsync(first.ProcessId!.Value, Long)).ExitCode);
                Assert.Equal(first.ProcessId, (await client.RequestAsync(once, Long, id: 7_000_001)).ProcessId);
                var count = await client.RequestAsync(new ExecRequest(Spec("sh", "-c", "wc -l < /once.txt")), Long);
                Assert.Equal("1", (await client.ReadUntilAsync(count.ProcessId!.Value, "\n", new StringBuilder(), Long)).Trim());
                Assert.Equal(0, (await client.WaitExitAsync(count.ProcessId!.Value, Long)).ExitCode);

                var ps = await client.RequestAsync(new ListProcessesRequest());
                var sleeper = Assert.Single(ps.Processes!, p => p.CommandLine == "sleep 600");
                Assert.Equal("root", sleeper.User);
                Assert.DoesNotContain(ps.Processes!, p => p.Pid == 1);

                var stats = await client.RequestAsync(new StatisticsRequest());
                Assert.True(stats.Statistics!.MemoryTotalBytes > 100L << 20 && stats.Statistics.MemoryBytes > 0 && stats.Statistics.Pids >= 1);

                Assert.Null((await client.RequestAsync(new SignalRequest(runnerId, 9))).Error);
                Assert.Equal(137, (await client.WaitExitAsync(runnerId, Long)).ExitCode);
                Assert.Contains("has exited", (await client.RequestAsync(new SignalRequest(runnerId, 9))).Error, StringComparison.Ordinal);

                Assert.Null((await client.RequestAsync(new ShutdownRequest(), Long)).Error);
                await vm.Qemu.WaitForExitAsync(new CancellationTokenSource(Long).Token);
                Assert.Equal(0, vm.Qemu.ExitCode);
            }

            // The write survived and the scratch disk was unmounted cleanly (a dirty ext4 would not mount read-only).
            var mnt = Path.Combine(vm.Directory, "mnt");
            Directory.CreateDirectory(mnt);
            await GuestVm.RunAsync("mount", "-o", "loop,ro", vm.ScratchDisk, mnt);
            try
            {
                Assert.Equal("persisted\n", await File.ReadAllTextAsync(Path.Combine(mnt, "upper/data.txt")));
            }
            finally
            {
                await GuestVm.RunAsync("umount", mnt);
            }
        }
        catch
        {
            output.WriteLine("serial console:\n" + vm.ReadSerialLog());
            throw;
        }
    }

    [RootFact]
    [Trait("Requires", "root")]
    public async Task Baseline_the_same_kernel_boots_a_trivial_init_RequiresRoot()
    {
        var (kernel, _, _) = await GuestVm.BuildGuestAsync();
        await using var vm = new GuestVm();
        var tree = Path.Combine(vm.Directory, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "bin"));
        File.Copy("/bin/busybox", Path.Combine(tree, "bin/busybox"));
        await File.WriteAllTextAsync(Path.Combine(tree, "init"), "#!/bin/busybox sh\n/bin/busybox echo TRIVIAL-INIT-UP\n/bin/busybox poweroff -f\n");
        File.SetUnixFileMode(Path.Combine(tree, "init"), (UnixFileMode)0b111_101_101);
        var cpio = Path.Combine(vm.Directory, "trivial.cpio");
        await GuestVm.RunAsync("sh", "-c", $"cd '{tree}' && find . -mindepth 1 | busybox cpio -o -H newc -R 0:0 > '{cpio}' 2>/dev/null");

        var start = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true };
        foreach (var a in new[] { "-M", "pc", "-accel", "tcg", "-m", "256", "-nographic", "-nodefaults", "-no-user-config", "-no-reboot", "-kernel", kernel, "-initrd", cpio, "-append", GuestVm.KernelCommandLine, "-serial", "stdio" })
        {
            start.ArgumentList.Add(a);
        }

        var clock = Stopwatch.StartNew();
        using var qemu = Process.Start(start)!;
        try
        {
            var seen = new StringBuilder();
            var buffer = new char[4096];
            while (!seen.ToString().Contains("TRIVIAL-INIT-UP", StringComparison.Ordinal))
            {
                var n = await qemu.StandardOutput.ReadAsync(buffer).AsTask().WaitAsync(Long);
                Assert.True(n > 0, "QEMU ended before the trivial init printed");
                seen.Append(buffer, 0, n);
            }

            var firstLine = clock.Elapsed;
            await qemu.WaitForExitAsync(new CancellationTokenSource(Long).Token);
            output.WriteLine($"QEMU start -> trivial init's first line {firstLine.TotalSeconds:F2} s, -> QEMU exit {clock.Elapsed.TotalSeconds:F2} s");
        }
        finally
        {
            if (!qemu.HasExited)
            {
                qemu.Kill();
            }
        }
    }

    private static GuestProcessSpec Spec(params string[] args) => new() { Args = args, Env = [], Cwd = "/" };
}
