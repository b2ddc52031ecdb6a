using System.Threading.Channels;
using Portal.Agent.Hub;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests.Hub;

/// <summary>Exec output through the hub and REST is bounded: a slow client slows the process, never grows the agent.</summary>
public sealed class ProcessStreamsTests
{
    [Fact]
    public async Task A_hub_exec_nobody_reads_stops_reading_the_process_once_its_queue_is_full()
    {
        var stdout = new EndlessStream();
        var stderr = new EndlessStream();
        await using var process = new FakeProcess(stdout, stderr);
        var output = ProcessStreams.OutputChannel();
        using var cts = new CancellationTokenSource();
        var pump = ProcessStreams.PumpOutputAsync(process, output.Writer, cts.Token);

        await WaitForAsync(() => output.Reader.Count == ProcessStreams.OutputMessages);
        // Each pump holds at most one more chunk than the queue takes; nothing reads past that.
        var bound = (ProcessStreams.OutputMessages + 2) * 16384L;
        await stdout.WaitForBlockedReadAsync();
        Assert.InRange(stdout.BytesRead + stderr.BytesRead, 1, bound);

        // A reader taking messages lets the pump go on: back-pressure, not a stop.
        var before = stdout.BytesRead + stderr.BytesRead;
        for (var i = 0; i < 100; i++)
        {
            await output.Reader.ReadAsync();
        }

        await WaitForAsync(() => output.Reader.Count == ProcessStreams.OutputMessages);
        Assert.InRange(stdout.BytesRead + stderr.BytesRead - before, 100 * 1L, (100 + 2) * 16384L);
        await cts.CancelAsync();
        await pump.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task REST_exec_output_past_the_limit_is_a_clear_error_not_memory()
    {
        var stdout = new EndlessStream();
        var stderr = new EndlessStream(idle: true); // a stream with nothing to say must not keep the call waiting
        var error = await Assert.ThrowsAsync<ComputeException>(() => ProcessStreams.CollectAsync(stdout, stderr, 1 << 20, "yes", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains("'yes' wrote more than 1 MiB", error.Message);
        Assert.Contains("hub's Exec stream or docker exec", error.Message);
        Assert.InRange(stdout.BytesRead, 1 << 20, (1 << 20) + 16384);
    }

    [Fact]
    public async Task REST_exec_output_under_the_limit_is_returned_whole()
    {
        var (stdout, stderr) = await ProcessStreams.CollectAsync(new MemoryStream("out\n"u8.ToArray()), new MemoryStream("err\n"u8.ToArray()), 8, "sh", CancellationToken.None);
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(10);
        }
    }

    /// <summary>`cat /dev/zero`: every read returns a full buffer at once (or, idle, waits until cancelled).</summary>
    private sealed class EndlessStream(bool idle = false) : Stream
    {
        private long _read;

        public long BytesRead => Interlocked.Read(ref _read);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        /// <summary>Waits until a read has returned and its caller has not asked for more for a while (it is blocked on the queue).</summary>
        public async Task WaitForBlockedReadAsync()
        {
            var last = -1L;
            while (BytesRead != last)
            {
                last = BytesRead;
                await Task.Delay(200);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (idle)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            await Task.Yield();
            buffer.Span.Clear();
            Interlocked.Add(ref _read, buffer.Length);
            return buffer.Length;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class FakeProcess(Stream stdout, Stream stderr) : IContainerProcess
    {
        public Stream? StandardInput => null;

        public Stream StandardOutput => stdout;

        public Stream? StandardError => stderr;

        public Task<int> WaitAsync(CancellationToken ct = default) => Task.FromResult(0);

        public void Resize(int columns, int rows)
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
