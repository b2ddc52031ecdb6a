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
}
