using Portal.Compute.Containers;
using Portal.Compute.Linux;
using Portal.Contracts;

namespace Portal.Compute.Tests.Containers;

public sealed class ContainerLogTests
{
    [Theory]
    [InlineData("2024-05-01T10:00:00.123456789+00:00 stdout F hello world", LogStream.Stdout, "hello world\n")]
    [InlineData("2024-05-01T10:00:00.123456789+00:00 stderr F oops", LogStream.Stderr, "oops\n")]
    [InlineData("2024-05-01T10:00:00.123456789+00:00 stdout P part", LogStream.Stdout, "part")]
    [InlineData("2024-05-01T10:00:00.123456789+00:00 stdout F ", LogStream.Stdout, "\n")]
    [InlineData("2024-05-01T10:00:00.123456789+00:00 stdout F a  b ", LogStream.Stdout, "a  b \n")]
    public void Parses_conmon_k8s_file_lines(string line, LogStream stream, string text)
    {
        var entry = ContainerLog.Parse(line);
        Assert.NotNull(entry);
        Assert.Equal(stream, entry.Stream);
        Assert.Equal(text, entry.Text);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 10, 0, 0, TimeSpan.Zero).AddTicks(1234568), entry.Timestamp); // nanoseconds rounded to ticks
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("not-a-time stdout F x")]
    public void Ignores_lines_that_are_not_log_entries(string line) => Assert.Null(ContainerLog.Parse(line));

    [Fact]
    public async Task Tail_returns_the_last_entries_and_stops_when_not_following()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(path, Enumerable.Range(1, 10).Select(i => $"2024-05-01T10:00:00.000000000+00:00 stdout F line {i}"));
            var entries = new List<LogEntry>();
            var written = 10;

            // The container keeps writing while its tail is read: a line appended after the scan is not part of the tail.
            bool WritesMore()
            {
                File.AppendAllText(path, $"2024-05-01T10:00:01.000000000+00:00 stdout F line {++written}\n");
                return false;
            }

            await foreach (var e in ContainerLog.ReadAsync(path, tail: 3, stillWriting: WritesMore))
            {
                entries.Add(e);
            }

            Assert.Equal(["line 8\n", "line 9\n", "line 10\n"], entries.Select(e => e.Text));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Follow_picks_up_what_is_written_later()
    {
        var path = Path.GetTempFileName();
        try
        {
            var writing = true;
            var entries = new List<LogEntry>();
            var reader = Task.Run(async () =>
            {
                await foreach (var e in ContainerLog.ReadAsync(path, tail: null, stillWriting: () => Volatile.Read(ref writing)))
                {
                    entries.Add(e);
                }
            });
            await Task.Delay(150);
            await File.AppendAllTextAsync(path, "2024-05-01T10:00:00.000000000+00:00 stdout F later\n");
            await Task.Delay(300);
            Volatile.Write(ref writing, false);
            await reader.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(["later\n"], entries.Select(e => e.Text));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_follower_is_woken_by_the_write_itself()
    {
        var path = Path.GetTempFileName();
        try
        {
            using var signal = new FileChangeSignal(path);
            var woken = signal.WaitAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);
            await File.AppendAllTextAsync(path, "x\n");
            Assert.True(await woken.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public sealed class ContainerNamesTests
{
    [Theory]
    [InlineData("web")]
    [InlineData("/web")]
    [InlineData("HYPVCON")]
    [InlineData("a.b_c-d1")]
    [InlineData("x")]
    public void Accepts_docker_names(string name) => Assert.Equal(name.TrimStart('/'), ContainerNames.Validate(name));

    [Theory]
    [InlineData("")]
    [InlineData("-web")]
    [InlineData("we b")]
    [InlineData("we/b")]
    [InlineData("ümlaut")]
    public void Rejects_other_names_and_says_what_is_allowed(string name)
    {
        var e = Assert.Throws<ComputeException>(() => ContainerNames.Validate(name));
        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.Contains("letters, digits", e.Message);
    }

    [Fact]
    public void Rejects_names_longer_than_128() => Assert.Throws<ComputeException>(() => ContainerNames.Validate(new string('a', 129)));

    [Fact]
    public void Generated_names_avoid_taken_ones()
    {
        var taken = new HashSet<string>();
        for (var i = 0; i < 300; i++)
        {
            var name = ContainerNames.Generate(taken.Contains);
            Assert.True(taken.Add(name));
            Assert.Equal(name, ContainerNames.Validate(name));
        }
    }
}

public sealed class EnvironmentBuilderTests
{
    [Fact]
    public void Later_entries_replace_earlier_ones_in_place()
    {
        var merged = EnvironmentBuilder.Merge(["PATH=/bin", "A=1"], ["B=2", "PATH=/usr/bin"], ["A=3"]);
        Assert.Equal(["PATH=/usr/bin", "A=3", "B=2"], merged);
    }
}

public sealed class CgroupParsingTests
{
    [Fact]
    public void Reads_v1_hybrid_and_v2_lines()
    {
        var paths = CgroupHost.ParseProcCgroup(["12:pids:/portal/abc", "4:cpu,cpuacct:/portal/abc", "1:name=systemd:/x", "0::/portal/abc"]);
        Assert.Equal("/portal/abc", paths["pids"]);
        Assert.Equal("/portal/abc", paths["cpuacct"]);
        Assert.Equal("/portal/abc", paths["cpu,cpuacct"]);
        Assert.Equal("/portal/abc", paths[""]);
    }
}
