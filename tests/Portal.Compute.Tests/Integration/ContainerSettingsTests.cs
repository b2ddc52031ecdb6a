using System.Formats.Tar;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Tests.Integration;

/// <summary>The create-time settings a user gives reach the running container.</summary>
[Trait("Requires", "root")]
public sealed class ContainerSettingsTests(ComputeFixture fixture) : IClassFixture<ComputeFixture>
{
    private IComputeHost Compute => fixture.Compute;

    [RootFact]
    public async Task Limits_user_environment_and_working_directory_apply()
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "settings",
            Image = "NanoServer", // an alias of the built-in busybox image, so the seed's commands run unchanged
            Command = ["sleep", "300"],
            User = "nobody",
            WorkingDirectory = "/tmp",
            Environment = ["GREETING=hallo"],
            Limits = new ContainerLimits { MemoryBytes = 64L << 20, Cpus = 0.5 },
        });
        await Compute.Containers.StartContainerAsync(created.Id);
        try
        {
            var (_, output, _) = await ComputeFixture.ExecAsync(Compute, created.Id, "sh", "-c", "id -u; pwd; echo $GREETING");
            Assert.Equal(["65534", "/tmp", "hallo"], output.Trim().Split('\n'));

            var hostPid = Compute.Containers.GetContainer(created.Id).HostPid!.Value;
            var memoryCgroup = CgroupOf(hostPid, "memory");
            Assert.Equal((64L << 20).ToString(), File.ReadAllText($"/sys/fs/cgroup/memory{memoryCgroup}/memory.limit_in_bytes").Trim());
            var cpuCgroup = CgroupOf(hostPid, "cpu");
            Assert.Equal("50000", File.ReadAllText($"/sys/fs/cgroup/cpu{cpuCgroup}/cpu.cfs_quota_us").Trim());

            var processes = await Compute.Containers.GetProcessesAsync(created.Id);
            Assert.Equal("nobody", processes.Single(p => p.Pid == 1).User);
            var stats = await Compute.Containers.GetStatisticsAsync(created.Id);
            Assert.True(stats.MemoryBytes > 0);
            Assert.Equal(64L << 20, stats.MemoryLimitBytes);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootFact]
    public async Task A_process_containers_log_is_bounded_by_its_max_size_and_tail_reads_the_end()
    {
        // 20,000 lines (about 1.3 MiB of log) into a log of at most 64 KiB: conmon starts the file over at the size.
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "chatty",
            Image = "busybox",
            Command = ["sh", "-c", "seq 1 20000; echo done"],
            Limits = new ContainerLimits { LogMaxBytes = 64L << 10, LogMaxFiles = 1 },
        });
        try
        {
            await Compute.Containers.StartContainerAsync(created.Id);
            await Compute.Containers.WaitAsync(created.Id);
            var log = Directory.EnumerateFiles(fixture.Options.StateRoot, "container.log", SearchOption.AllDirectories)
                .Single(f => f.Contains(created.Id, StringComparison.Ordinal));
            Assert.InRange(new FileInfo(log).Length, 1, 64L << 10);

            var tail = new List<LogEntry>();
            await foreach (var entry in Compute.Containers.ReadLogsAsync(created.Id, 2, follow: false))
            {
                tail.Add(entry);
            }

            Assert.Equal(["20000\n", "done\n"], tail.Select(e => e.Text));
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootFact]
    public async Task A_process_containers_rotated_log_files_are_kept_up_to_max_file_in_order()
    {
        // 40 bursts of 1,000 lines (about 45 KiB each) into 64 KiB files, 3 kept: conmon starts its file over about 28
        // times; the keeper turns each dropped file into container.log.1 and shifts the older ones.
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "rotating",
            Image = "busybox",
            Command = ["sh", "-c", "for i in $(seq 1 40); do seq $((i*1000-999)) $((i*1000)); usleep 20000; done; echo done"],
            Limits = new ContainerLimits { LogMaxBytes = 64L << 10, LogMaxFiles = 3 },
        });
        try
        {
            await Compute.Containers.StartContainerAsync(created.Id);
            await Compute.Containers.WaitAsync(created.Id);
            var log = Directory.EnumerateFiles(fixture.Options.StateRoot, "container.log", SearchOption.AllDirectories)
                .Single(f => f.Contains(created.Id, StringComparison.Ordinal));
            var files = LogRotation.Files(log);
            Assert.Equal([log + ".2", log + ".1", log], files);
            Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 64L << 10));
            Assert.False(File.Exists(log + ".keep"), "the keeper's link goes with the run");

            // conmon splits output at its read boundaries (P records): join the entries back into lines.
            var text = new System.Text.StringBuilder();
            await foreach (var entry in Compute.Containers.ReadLogsAsync(created.Id, null, follow: false))
            {
                text.Append(entry.Text);
            }

            var all = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();

            // Oldest first, nothing out of order, ending with the last line; far more than one file's worth.
            Assert.Equal("done", all[^1]);
            var numbers = all.Skip(1).SkipLast(1).Select(int.Parse).ToList(); // the first may be the end of a line cut by a rotation
            Assert.Equal(40_000, numbers[^1]);
            Assert.Equal(numbers.Order().ToList(), numbers);
            Assert.True(numbers.Count > 2_000, $"only {numbers.Count} lines were kept in 3 files");
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootFact]
    public async Task An_imported_image_runs_by_id_prefix_and_writes_stay_in_its_scratch_disk()
    {
        // A one-file image on top of busybox's binary: a plain rootfs tar, as `docker export` makes.
        var tar = Path.Combine(Path.GetTempPath(), $"rootfs-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var file = File.Create(tar))
            await using (var writer = new TarWriter(file, TarEntryFormat.Pax))
            {
                var busybox = new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { Mode = (UnixFileMode)0x1ED, DataStream = File.OpenRead("/bin/busybox") };
                await writer.WriteEntryAsync(busybox);
                await busybox.DataStream!.DisposeAsync();
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/sh") { LinkName = "busybox" });
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "data") { Mode = (UnixFileMode)0x1ED });
                var marker = new PaxTarEntry(TarEntryType.RegularFile, "data/marker") { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream("from the image\n"u8.ToArray()) };
                await writer.WriteEntryAsync(marker);
            }

            await using var archive = File.OpenRead(tar);
            var image = (await Compute.Images.ImportAsync(archive, "mini:1", null, CancellationToken.None)).Single();
            var prefix = image.Id["sha256:".Length..][..12];
            var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
            {
                Name = "mini",
                Image = prefix,
                Command = ["/bin/sh", "-c", "/bin/busybox cat /data/marker; echo written > /data/new"],
            });
            await Compute.Containers.StartContainerAsync(created.Id);
            var done = await Compute.Containers.WaitAsync(created.Id).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, done.ExitCode);
            var output = new List<string>();
            await foreach (var entry in Compute.Containers.ReadLogsAsync(created.Id, null, follow: false))
            {
                output.Add(entry.Text);
            }

            Assert.Equal(["from the image\n"], output);

            // The write went to this container's scratch disk, not to the shared image.
            var other = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "mini-check", Image = "mini:1", Command = ["/bin/busybox", "ls", "/data"] });
            await Compute.Containers.StartContainerAsync(other.Id);
            await Compute.Containers.WaitAsync(other.Id).WaitAsync(TimeSpan.FromSeconds(30));
            var listing = new List<string>();
            await foreach (var entry in Compute.Containers.ReadLogsAsync(other.Id, null, follow: false))
            {
                listing.Add(entry.Text.Trim());
            }

            Assert.Equal(["marker"], listing); // another container from the same image does not see it
            await Compute.Containers.RemoveContainerAsync(created.Id);
            await Compute.Containers.RemoveContainerAsync(other.Id);
        }
        finally
        {
            File.Delete(tar);
        }
    }

    private static string CgroupOf(int pid, string controller) =>
        File.ReadAllLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).First(p => p[1].Split(',').Contains(controller))[2];
}
