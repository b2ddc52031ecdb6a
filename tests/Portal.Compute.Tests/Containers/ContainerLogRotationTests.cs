using System.Diagnostics;
using System.Text;
using Portal.Compute.Containers;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;

namespace Portal.Compute.Tests.Containers;

/// <summary>
/// Container logs are bounded (rotated at a size, a fixed number of files kept) and read across their files; a tail is
/// read from the end, so its cost does not grow with the log. Unit tier: real files, no root.
/// </summary>
[Collection(ProcessMeasuring.Name)]
public sealed class ContainerLogRotationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-log-").FullName;

    private string LogPath => Path.Combine(_directory, "container.log");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_writer_rotates_at_the_size_keeps_the_count_and_the_reader_reads_across_files_in_order()
    {
        var rotation = new LogRotation(MaxBytes: 8192, MaxFiles: 3);
        using (var writer = new ContainerLogWriter(LogPath, rotation))
        {
            for (var i = 0; i < 2000; i++)
            {
                writer.Write(stderr: false, Encoding.ASCII.GetBytes($"line {i:D5}\n"));
            }
        }

        var files = LogRotation.Files(LogPath);
        Assert.Equal([LogPath + ".2", LogPath + ".1", LogPath], files);
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 8192));
        Assert.False(File.Exists(LogPath + ".3"));

        // Everything kept, oldest first, ends with the last line and has no gap.
        var all = await ReadAllAsync(tail: null);
        var numbers = all.Select(e => int.Parse(e.Text[5..10], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(1999, numbers[^1]);
        Assert.Equal(Enumerable.Range(numbers[0], numbers.Count), numbers);
        Assert.InRange(all.Count, 2 * 8192 / 60, 3 * 8192 / 40);

        // A tail that reaches into the rotated files.
        var tail = await ReadAllAsync(tail: all.Count - 5);
        Assert.Equal(all.Skip(5).Select(e => e.Text), tail.Select(e => e.Text));
    }

    [Fact]
    public async Task One_file_starts_over_when_full()
    {
        using (var writer = new ContainerLogWriter(LogPath, new LogRotation(4096, 1)))
        {
            for (var i = 0; i < 500; i++)
            {
                writer.Write(stderr: true, Encoding.ASCII.GetBytes($"e{i}\n"));
            }
        }

        Assert.Equal([LogPath], LogRotation.Files(LogPath));
        Assert.InRange(new FileInfo(LogPath).Length, 1, 4096);
        Assert.Equal("e499\n", (await ReadAllAsync(tail: 1))[0].Text);
    }

    [Fact]
    public async Task A_follower_goes_on_in_the_new_file_after_a_rotation()
    {
        var rotation = new LogRotation(MaxBytes: 4096, MaxFiles: 2);
        using var writer = new ContainerLogWriter(LogPath, rotation);
        writer.Write(false, "first\n"u8);
        var writing = 1;
        var seen = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var follow = Task.Run(async () =>
        {
            await foreach (var e in ContainerLog.ReadAsync(LogPath, tail: null, stillWriting: () => Volatile.Read(ref writing) == 1, timeout.Token))
            {
                lock (seen)
                {
                    seen.Add(e.Text);
                }
            }
        });

        // Enough lines for several rotations; the follower must see every one, in order.
        for (var i = 0; i < 400; i++)
        {
            writer.Write(false, Encoding.ASCII.GetBytes($"n{i}\n"));
            if (i % 50 == 0)
            {
                await WaitUntilAsync(() => { lock (seen) { return seen.Contains($"n{i}\n"); } });
            }
        }

        await WaitUntilAsync(() => { lock (seen) { return seen.Contains("n399\n"); } });
        Volatile.Write(ref writing, 0);
        await follow;
        Assert.Equal(["first\n", .. Enumerable.Range(0, 400).Select(i => $"n{i}\n")], seen);
    }

    [Fact]
    public async Task Tail_reads_from_the_end_of_a_large_log()
    {
        // 64 MiB of log: a scan reads all of it, the tail reads a few chunks from the end.
        var line = "2025-01-02T03:04:05.123456789+00:00 stdout F " + new string('x', 200) + "\n";
        var bytes = Encoding.ASCII.GetBytes(line);
        await using (var file = new FileStream(LogPath, FileMode.Create))
        {
            for (var written = 0L; written < 64L << 20; written += bytes.Length)
            {
                file.Write(bytes);
            }

            file.Write("2025-01-02T03:04:06.000000000+00:00 stderr F the last\n"u8);
        }

        var watch = Stopwatch.StartNew();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var tail = await ReadAllAsync(tail: 3);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(3, tail.Count);
        Assert.Equal("the last\n", tail[^1].Text);
        Assert.Equal(LogStream.Stderr, tail[^1].Stream);
        Assert.Equal(new string('x', 200) + "\n", tail[0].Text);

        // Reading 64 MiB line by line allocates well over 64 MiB of strings; the tail a few chunks.
        Assert.True(allocated < 4L << 20, $"the tail of 3 lines allocated {allocated} bytes in {watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Tail_handles_lines_across_chunk_boundaries_and_zero()
    {
        var lines = Enumerable.Range(0, 3000).Select(i => $"2025-01-02T03:04:05.000000000+00:00 stdout F {new string((char)('a' + (i % 26)), i % 97)}{i}").ToList();
        await File.WriteAllLinesAsync(LogPath, lines);

        Assert.Empty(await ReadAllAsync(tail: 0));
        var tail = await ReadAllAsync(tail: 2500);
        Assert.Equal(lines.Skip(500).Select(l => ContainerLog.Parse(l)!.Text), tail.Select(e => e.Text));
        Assert.Equal(3000, (await ReadAllAsync(tail: 10_000)).Count);
    }

    [Fact]
    public async Task A_runs_output_from_its_offset_survives_a_rotation_after_the_run_began()
    {
        var rotation = new LogRotation(MaxBytes: 4096, MaxFiles: 3);
        using var writer = new ContainerLogWriter(LogPath, rotation);
        for (var i = 0; i < 70; i++)
        {
            writer.Write(false, Encoding.ASCII.GetBytes($"old{i}\n"));
        }

        // The run begins here; its output soon rotates the file.
        var offset = new FileInfo(LogPath).Length;
        for (var i = 0; i < 30; i++)
        {
            writer.Write(false, Encoding.ASCII.GetBytes($"new{i}\n"));
        }

        Assert.True(new FileInfo(LogPath).Length < offset, "the file was started over");
        var entries = new List<string>();
        await foreach (var e in ContainerLog.ReadAsync(LogPath, tail: null, stillWriting: () => false, startOffset: offset))
        {
            entries.Add(e.Text);
        }

        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"new{i}\n"), entries);
    }

    [Fact]
    public void Rotation_limits_are_checked_at_create()
    {
        Assert.Equal(new LogRotation(10L << 20, 3), LogRotation.For(new ContainerLimits(), ComputeOptions.DefaultLogRotation));
        Assert.Equal(new LogRotation(1L << 20, 5), LogRotation.For(new ContainerLimits { LogMaxBytes = 1L << 20, LogMaxFiles = 5 }, ComputeOptions.DefaultLogRotation));
    }

    private async Task<List<LogEntry>> ReadAllAsync(int? tail)
    {
        var entries = new List<LogEntry>();
        await foreach (var e in ContainerLog.ReadAsync(LogPath, tail, () => false))
        {
            entries.Add(e);
        }

        return entries;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            await Task.Delay(10);
        }
    }
}
