using System.Text;
using Portal.Compute.Containers;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;

namespace Portal.Compute.Tests.Vm;

public sealed class ContainerLogWriterTests
{
    [Fact]
    public async Task Writes_k8s_file_lines_that_ContainerLog_reads_back_with_partial_lines()
    {
        var path = Path.GetTempFileName();
        try
        {
            var clock = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567);
            using (var writer = new ContainerLogWriter(path, clock: () => clock))
            {
                writer.Write(stderr: false, "one\ntw"u8);
                writer.Write(stderr: false, "o\n"u8);
                writer.Write(stderr: true, "oops\n\n"u8);
                writer.Write(stderr: false, "no newline"u8);
            }

            var lines = File.ReadAllLines(path);
            Assert.Equal(
            [
                "2025-01-02T03:04:05.123456700+00:00 stdout F one",
                "2025-01-02T03:04:05.123456700+00:00 stdout P tw",
                "2025-01-02T03:04:05.123456700+00:00 stdout F o",
                "2025-01-02T03:04:05.123456700+00:00 stderr F oops",
                "2025-01-02T03:04:05.123456700+00:00 stderr F ",
                "2025-01-02T03:04:05.123456700+00:00 stdout P no newline",
            ], lines);

            var entries = new List<LogEntry>();
            await foreach (var e in ContainerLog.ReadAsync(path, null, () => false))
            {
                entries.Add(e);
            }

            Assert.Equal("one\ntwo\n", string.Concat(entries.Where(e => e.Stream == LogStream.Stdout).Take(3).Select(e => e.Text)));
            Assert.Equal(LogStream.Stderr, entries[3].Stream);
            Assert.Equal("no newline", entries[^1].Text);
            Assert.Equal(clock, entries[0].Timestamp);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Resume_cuts_what_a_killed_agent_wrote_after_its_last_record_and_says_where_output_is_new()
    {
        var path = Path.GetTempFileName();
        try
        {
            using (var writer = new ContainerLogWriter(path))
            {
                Assert.Equal((0UL, 0UL), writer.Resume("boot-a"));
                writer.Write(stderr: false, "tick 0\n"u8, 1);
                writer.Write(stderr: true, "oops\n"u8, 1);
                writer.Write(stderr: false, "tick 1\n"u8, 2);
            }

            // The agent was killed after writing "tick 2" but before recording it: the guest sends it again.
            File.AppendAllText(path, "2025-01-02T03:04:05.123456700+00:00 stdout F tick 2\n");

            using (var writer = new ContainerLogWriter(path))
            {
                Assert.Equal((2UL, 1UL), writer.Resume("boot-a"));
                Assert.Equal(3, File.ReadAllLines(path).Length);
                writer.Write(stderr: false, "tick 2\n"u8, 3);
            }

            Assert.Equal(["tick 0", "oops", "tick 1", "tick 2"], File.ReadAllLines(path).Select(l => l.Split(' ', 4)[3]));

            // A new boot numbers its output from 1 again: nothing is cut, nothing is taken as delivered.
            using (var writer = new ContainerLogWriter(path))
            {
                Assert.Equal((0UL, 0UL), writer.Resume("boot-b"));
                Assert.Equal(4, File.ReadAllLines(path).Length);
            }

            // An older guest numbers nothing: nothing is recorded or cut.
            using (var writer = new ContainerLogWriter(path))
            {
                Assert.Equal((0UL, 0UL), writer.Resume(null));
                writer.Write(stderr: false, "legacy\n"u8, 0);
            }

            Assert.Equal(5, File.ReadAllLines(path).Length);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ContainerLogWriter.DeliveredSuffix);
        }
    }

    [Fact]
    public void A_kill_after_a_rotation_cuts_nothing_of_the_new_file()
    {
        var dir = Directory.CreateTempSubdirectory("portal-log-").FullName;
        var path = Path.Combine(dir, "container.log");
        try
        {
            var line = new string('x', 3000) + "\n";
            using (var writer = new ContainerLogWriter(path, new LogRotation(4096, 3)))
            {
                writer.Resume("boot-a");
                writer.Write(stderr: false, System.Text.Encoding.ASCII.GetBytes(line), 1);
                writer.Write(stderr: false, System.Text.Encoding.ASCII.GetBytes(line), 2); // rotates before it is written
            }

            // Killed after the rotation and the second line's record: the new file holds that line whole.
            using (var writer = new ContainerLogWriter(path, new LogRotation(4096, 3)))
            {
                Assert.Equal((2UL, 0UL), writer.Resume("boot-a"));
            }

            Assert.Single(File.ReadAllLines(path));
            Assert.EndsWith(line.TrimEnd('\n'), File.ReadAllLines(path)[0], StringComparison.Ordinal);
            Assert.Single(File.ReadAllLines(path + ".1"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("3f2a-boot", "3f2a-boot")]
    [InlineData("boot id \u00e9\n", "bootid")]
    [InlineData("   ", null)]
    [InlineData(null, null)]
    public void A_guests_boot_id_is_kept_as_printable_ascii_so_it_reads_back_equal(string? boot, string? stored)
    {
        Assert.Equal(stored, ContainerLogWriter.BootId(boot));
    }
}
