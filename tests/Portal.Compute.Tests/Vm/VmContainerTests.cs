using System.Text;
using Portal.Compute.Containers;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;
using Portal.Contracts.Guest;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Vm;

/// <summary>VM-isolated containers on real QEMU (TCG where KVM does not work). Needs root. Each test boots one VM.</summary>
[Trait("Requires", "root")]
[Collection("vm")]
public sealed class VmContainerTests(VmFixture fixture) : IClassFixture<VmFixture>
{
    private IComputeHost Compute => fixture.Compute;

    [RootFact]
    public async Task Runs_under_the_guest_kernel_with_output_and_exit_code_and_leaves_nothing_behind_as_root()
    {
        var started = await fixture.RunAsync("vm-uname", "sh", "-c", "uname -r; echo to-stderr >&2; printf partial; exit 3");
        var stopped = await Compute.Containers.WaitAsync(started.Id).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(3, stopped.ExitCode);

        var entries = new List<LogEntry>();
        await foreach (var e in Compute.Containers.ReadLogsAsync(started.Id, null, follow: false))
        {
            entries.Add(e);
        }

        var stdout = string.Concat(entries.Where(e => e.Stream == LogStream.Stdout).Select(e => e.Text));
        var guestKernel = stdout.Split('\n')[0];
        Assert.Equal(File.ReadAllText(Path.Combine(GuestBuild.Directory, "kernel-version")).Trim(), guestKernel);
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), guestKernel);
        Assert.EndsWith("partial", stdout);
        Assert.Contains(entries, e => e.Stream == LogStream.Stderr && e.Text == "to-stderr\n");
        AssertNothingLeft(started.Id);
    }

    [RootFact]
    public async Task Converts_Default_to_HyperV_and_back_keeping_what_each_phase_wrote_as_root()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "convertible", Image = "busybox", Command = ["sh", "-c", "echo $1 >> /root/phases; cat /root/phases; uname -r", "sh", "phase"] });
        Assert.Equal(RuntimeType.Default, created.RuntimeType);
        var scratch = new FileInfo(Path.Combine(fixture.Options.StateRoot, "containers", created.Id, "scratch.ext4"));

        async Task<string[]> RunPhaseAsync()
        {
            var offset = new FileInfo(Path.Combine(fixture.Options.StateRoot, "containers", created.Id, "container.log")) is { Exists: true } log ? log.Length : 0;
            await Compute.Containers.StartContainerAsync(created.Id);
            Assert.Equal(0, (await Compute.Containers.WaitAsync(created.Id).WaitAsync(TimeSpan.FromSeconds(120))).ExitCode);
            var lines = new List<string>();
            await foreach (var e in Compute.Containers.ReadLogsAsync(created.Id, null, follow: false))
            {
                lines.Add(e.Text.TrimEnd('\n'));
            }

            return [.. lines];
        }

        var first = await RunPhaseAsync(); // process isolation: the host's kernel
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), first[^1]);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var converted = await Compute.Containers.ConvertContainerAsync(created.Id, RuntimeType.HyperV);
        watch.Stop();
        Assert.Equal(RuntimeType.HyperV, converted.RuntimeType);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"conversion copies nothing, yet took {watch.Elapsed}");
        var second = await RunPhaseAsync(); // VM isolation: the guest's kernel, the same disk
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), second[^1]);

        await Compute.Containers.ConvertContainerAsync(created.Id, RuntimeType.Default);
        var third = await RunPhaseAsync();
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), third[^1]);

        // Each run appended "phase" to the same file on the one scratch disk, whatever the runtime.
        Assert.Equal(["phase", "phase", "phase"], third.Skip(second.Length).SkipLast(1)); // the log holds every run; the last one's cat shows all three
        Assert.True(scratch.Exists);
        await Compute.Containers.RemoveContainerAsync(created.Id);
        AssertNothingLeft(created.Id);
    }

    [RootFact]
    public async Task A_corrupted_scratch_disk_is_refused_at_conversion_to_process_isolation_and_left_as_it_was_as_root()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "vm-corrupt", Image = "busybox", RuntimeType = RuntimeType.HyperV, Command = ["true"] });
        try
        {
            // What a hostile guest could leave behind: its root inode cleared.
            var scratch = Path.Combine(fixture.Options.StateRoot, "containers", created.Id, "scratch.ext4");
            using (var debugfs = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("debugfs", ["-w", "-R", "clri <2>", scratch]) { RedirectStandardError = true, RedirectStandardOutput = true })!)
            {
                await debugfs.WaitForExitAsync();
                Assert.Equal(0, debugfs.ExitCode);
            }

            var before = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(scratch)));
            var error = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.ConvertContainerAsync(created.Id, RuntimeType.Default));
            Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
            Assert.Contains("Container vm-corrupt was not converted to Default", error.Message);
            Assert.Contains("Root inode is not a directory", error.Message);
            Assert.Contains("It stays HyperV and unchanged", error.Message);
            Assert.Equal(RuntimeType.HyperV, Compute.Containers.GetContainer(created.Id).RuntimeType);
            Assert.Equal(before, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(scratch))));
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(created.Id, StringComparison.Ordinal)); // never mounted
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootFact]
    public async Task Hides_its_processes_from_the_host_execs_with_a_tty_reports_a_killed_worker_as_root()
    {
        var started = await fixture.RunAsync("vm-sleeper", "sleep", "3333");
        var id = started.Id;

        // The worker is on the host, named vmwp-<id12>, unprivileged, sandboxed and in its own cgroup; the container's processes are not.
        var vm = Assert.Single(Compute.HostProcesses.EnumerateComputeSystems(), s => s.Type == ComputeSystemType.VirtualMachine && s.Id == id + "@vm");
        var worker = vm.HostPid!.Value;
        Assert.Null(Compute.Containers.GetContainer(id).HostPid);
        Assert.Equal("vmwp-" + id[..10], File.ReadAllText($"/proc/{worker}/comm").Trim()); // comm keeps 15 characters
        var status = File.ReadAllLines($"/proc/{worker}/status");
        Assert.Contains(status, l => l.StartsWith("Seccomp:", StringComparison.Ordinal) && l.EndsWith('2'));
        var uid = status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1..];
        var allocated = File.ReadAllText(Path.Combine(fixture.Options.RunRoot, "vm", id, VmWorkerUids.FileName)).Trim();
        Assert.Equal([allocated, allocated, allocated, allocated], uid); // real, effective, saved, filesystem: the allocated uid, for good
        Assert.InRange(uint.Parse(allocated, System.Globalization.CultureInfo.InvariantCulture), 1_900_000_000u, 1_900_000_000u + VmWorkerUids.RangeSize - 1);
        Assert.Contains(status, l => l.StartsWith("CapEff:", StringComparison.Ordinal) && l.EndsWith("0000000000000000", StringComparison.Ordinal));
        Assert.Contains(status, l => l.StartsWith("CapPrm:", StringComparison.Ordinal) && l.EndsWith("0000000000000000", StringComparison.Ordinal));

        // Jailed as Firecracker's jailer jails its VMM: its own mount and network namespaces, an empty root, no host file in view.
        foreach (var ns in new[] { "mnt", "net", "ipc", "uts" })
        {
            Assert.NotEqual(new FileInfo($"/proc/self/ns/{ns}").LinkTarget, new FileInfo($"/proc/{worker}/ns/{ns}").LinkTarget);
        }

        Assert.Equal(Path.Combine(fixture.Options.RunRoot, "vm", id, VmWorker.JailName), new FileInfo($"/proc/{worker}/root").LinkTarget);
        Assert.Empty(Directory.EnumerateFileSystemEntries($"/proc/{worker}/root/"));
        var mounts = Assert.Single(File.ReadAllLines($"/proc/{worker}/mountinfo")); // all it can see: one empty read-only tmpfs of its own
        Assert.Equal(("/", "ro", "tmpfs", "portal-jail"), (mounts.Split(' ')[4], mounts.Split(' ')[5].Split(',')[0], mounts.Split(" - ")[1].Split(' ')[0], mounts.Split(" - ")[1].Split(' ')[1]));
        Assert.Equal(["lo"], File.ReadAllLines($"/proc/{worker}/net/dev").Skip(2).Select(l => l.Split(':')[0].Trim()));
        Assert.Contains(File.ReadAllLines($"/proc/{worker}/cgroup"), l => l.EndsWith($"/{fixture.Options.CgroupParent}/{id}@vm", StringComparison.Ordinal));
        Assert.Contains(Compute.HostProcesses.FindHostProcesses("vmwp-" + id[..12]), p => p.Pid == worker && p.IsVmWorker);

        var inside = await Compute.Containers.GetProcessesAsync(id);
        Assert.Contains(inside, p => p.CommandLine.Contains("sleep 3333", StringComparison.Ordinal) && p.HostPid is null);
        Assert.DoesNotContain(Compute.HostProcesses.FindHostProcesses("3333"), p => p.CommandLine.Trim() == "sleep 3333");

        var (code, output) = await ExecAsync(id, tty: false, "uname", "-r");
        Assert.Equal(0, code);
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), output.Trim());
        var (ttyCode, ttyOutput) = await ExecAsync(id, tty: true, "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; stty size");
        Assert.Equal(0, ttyCode);
        Assert.Contains("is-a-tty", ttyOutput);
        Assert.Contains("24 80", ttyOutput);

        // Killing the worker stops the container with a reason, and nothing is left.
        Portal.Shared.Native.Libc.kill(worker, 9);
        var stopped = await Compute.Containers.WaitAsync(id).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ContainerState.Stopped, stopped.State);
        Assert.Equal(137, stopped.ExitCode);
        Assert.Contains("VM worker was killed", stopped.StopReason);
        AssertNothingLeft(id);
    }

    [RootFact]
    public async Task Reports_a_guest_kernel_panic_as_stopped_with_the_panic_and_leaves_nothing_behind_as_root()
    {
        // sysrq 'c' crashes the guest kernel on purpose: only this container's VM goes down, and it says why.
        var started = await fixture.RunAsync("vm-panic", "sh", "-c", "echo c > /proc/sysrq-trigger; sleep 60");
        var stopped = await Compute.Containers.WaitAsync(started.Id).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(ContainerState.Stopped, stopped.State);
        Assert.Equal(255, stopped.ExitCode);
        Assert.StartsWith("The guest kernel panicked", stopped.StopReason);
        Assert.Contains("sysrq", stopped.StopReason, StringComparison.OrdinalIgnoreCase);
        AssertNothingLeft(started.Id);
    }

    [RootFact]
    public async Task Exec_output_nobody_reads_blocks_the_process_in_the_guest_and_a_late_reader_gets_all_of_it_as_root()
    {
        var started = await fixture.RunAsync("vm-zero", "sleep", "3333");
        const int Total = 8 << 20;
        await using var process = await Compute.Containers.ExecAsync(started.Id, new ProcessSpec { Command = ["head", "-c", Total.ToString(System.Globalization.CultureInfo.InvariantCulture), "/dev/zero"] });
        var stdout = Assert.IsType<GuestOutputStream>(process.StandardOutput);

        // Nobody reads: the host holds at most the window, and `head` waits in the guest instead of finishing.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (stdout.BufferedBytes < GuestProtocol.OutputWindow / 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.InRange(stdout.BufferedBytes, GuestProtocol.OutputWindow / 2, GuestProtocol.OutputWindow);
        Assert.Contains(await Compute.Containers.GetProcessesAsync(started.Id), p => p.CommandLine.StartsWith("head -c", StringComparison.Ordinal));
        Assert.False(process.WaitAsync().IsCompleted);
        Assert.InRange(stdout.BufferedBytes, 1, GuestProtocol.OutputWindow);

        // A reader comes: everything arrives, nothing was dropped.
        var buffer = new byte[64 * 1024];
        long read = 0;
        int n;
        while ((n = await stdout.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(60))) > 0)
        {
            read += n;
        }

        Assert.Equal(Total, read);
        Assert.Equal(0, await process.WaitAsync().WaitAsync(TimeSpan.FromSeconds(60)));
        await Compute.Containers.RemoveContainerAsync(started.Id, force: true);
        AssertNothingLeft(started.Id);
    }

    private async Task<(int Code, string Output)> ExecAsync(string id, bool tty, params string[] command)
    {
        await using var process = await Compute.Containers.ExecAsync(id, new ProcessSpec { Command = command, Tty = tty });
        var output = new StreamReader(process.StandardOutput, Encoding.UTF8).ReadToEndAsync();
        var code = await process.WaitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (code, await output.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private void AssertNothingLeft(string id)
    {
        var dir = Path.Combine(fixture.Options.RunRoot, "vm", id);
        for (var i = 0; i < 100 && Directory.Exists(dir); i++)
        {
            Thread.Sleep(50);
        }

        Assert.False(Directory.Exists(dir), $"{dir} is left");
        Assert.Empty(Directory.EnumerateDirectories("/sys/fs/cgroup", id + "@vm", SearchOption.AllDirectories).Take(1));
        Assert.DoesNotContain(Portal.Compute.Linux.ProcessTable.All(), p => p.CommandLine.Contains("vmwp-" + id[..12], StringComparison.Ordinal));
    }
}
