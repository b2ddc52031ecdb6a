using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Portal.Compute.Linux.Vm;
using Portal.Contracts.Guest;

namespace Portal.Compute.Tests.Vm;

/// <summary>
/// A hostile guest cannot grow the host: everything it can make the host allocate is bounded, and a guest that breaks
/// the protocol closes the channel with a reason (the VM is then stopped). Fed through the channel's seam, a socket pair.
/// </summary>
public sealed class GuestChannelBoundsTests
{
    private const int Window = GuestProtocol.OutputWindow;

    private static (GuestChannel Channel, FakeGuest Guest) Pair(int version = GuestProtocol.Version, Func<FakeGuest, uint, GuestRequest, Task<GuestResponse?>>? handler = null)
    {
        var (host, guest) = FakeGuest.Pair();
        var fake = new FakeGuest(guest, handler ?? ((_, _, _) => Task.FromResult<GuestResponse?>(new GuestResponse())));
        return (GuestChannel.Over(new NetworkStream(host, ownsSocket: true), version: version), fake);
    }

    [Fact]
    public async Task Output_for_ids_the_host_never_made_is_dropped_and_acknowledged_keeping_nothing()
    {
        var (channel, guest) = Pair();
        await using var _ = guest;
        await using var __ = channel;
        var random = new Random(13);
        for (var i = 0; i < 2000; i++)
        {
            await guest.SendOutputAsync(i % 2 == 0 ? FrameKind.Stdout : FrameKind.Stderr, (uint)random.Next(2, int.MaxValue), 1, new byte[1024]);
        }

        // A request answered after the output: by then the channel has read all of it.
        await channel.RequestAsync(new StatisticsRequest(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, channel.OutputCount);
        Assert.Equal(0, channel.BufferedOutputBytes);
        await GuestChannelTests.WaitUntil(() => guest.Acks.Count == 2000);
        Assert.False(channel.Closed.IsCompleted);
    }

    [Fact]
    public async Task Output_past_the_window_stops_the_guest_with_a_reason_and_keeps_no_more_than_the_window()
    {
        var (channel, guest) = Pair(handler: (_, _, _) => Task.FromResult<GuestResponse?>(null)); // never answers
        await using var _ = guest;
        await using var __ = channel;
        var output = channel.Claim(2); // an exec nobody reads
        var pending = channel.RequestAsync(new StatisticsRequest(), CancellationToken.None);
        try
        {
            for (ulong seq = 1; seq <= 64; seq++)
            {
                await guest.SendOutputAsync(FrameKind.Stdout, 2, seq, new byte[32 * 1024]);
            }
        }
        catch (IOException)
        {
            // The host hung up on it.
        }

        await channel.Closed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("process 2 sent more than 256 KiB of Stdout without waiting for acknowledgements", channel.Violation);
        Assert.StartsWith("The guest broke the protocol: ", channel.CloseReason);
        Assert.True(output.BufferedBytes <= Window, $"{output.BufferedBytes} bytes buffered");
        var failed = await Assert.ThrowsAsync<GuestChannelException>(() => pending);
        Assert.NotNull(failed.Violation);
    }

    [Fact]
    public async Task Output_a_reader_takes_is_acknowledged_so_the_guest_may_send_more_than_a_window_in_all()
    {
        var (channel, guest) = Pair();
        await using var _ = guest;
        await using var __ = channel;
        var output = channel.Claim(2);
        var received = new MemoryStream();
        var reading = output.StandardOutput.CopyToAsync(received);
        const int Chunk = 32 * 1024;
        for (ulong seq = 1; seq <= 64; seq++)
        {
            // A well-behaved guest: at most a window not yet acknowledged.
            var allowed = seq;
            await GuestChannelTests.WaitUntil(() => (long)(allowed - 1 - guest.Acked(2)) * Chunk + Chunk <= Window);
            await guest.SendOutputAsync(FrameKind.Stdout, 2, seq, Encoding.ASCII.GetBytes(new string((char)('a' + (int)(seq % 26)), Chunk)));
        }

        await guest.SendEventAsync(new ProcessExitedEvent(2, 0));
        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(64 * Chunk, received.Length);
        Assert.Equal(0, await output.Exited);
        Assert.Null(channel.Violation);
        await GuestChannelTests.WaitUntil(() => guest.Acked(2) == 64);
    }

    [Fact]
    public async Task Releasing_an_exec_nobody_read_acknowledges_what_it_held_so_the_guest_forgets_it()
    {
        var (channel, guest) = Pair();
        await using var _ = guest;
        await using var __ = channel;
        var output = channel.Claim(2);
        for (ulong seq = 1; seq <= 3; seq++)
        {
            await guest.SendOutputAsync(FrameKind.Stderr, 2, seq, new byte[1000]);
        }

        await GuestChannelTests.WaitUntil(() => output.BufferedBytes == 3000);
        Assert.Equal(0UL, guest.Acked(2, FrameKind.Stderr));
        channel.Release(2);
        await GuestChannelTests.WaitUntil(() => guest.Acked(2, FrameKind.Stderr) == 3);
        Assert.Null(channel.Output(2));
    }

    [Fact]
    public async Task Output_sent_again_after_a_reconnect_is_dropped_by_its_sequence_and_acknowledged()
    {
        var (channel, guest) = Pair();
        await using var _ = guest;
        await using var __ = channel;
        var output = channel.Claim(1, stdoutDelivered: 3, stderrDelivered: 0); // the log already has stdout 1-3
        await guest.SendOutputAsync(FrameKind.Stdout, 1, 2, "two\n"u8.ToArray());
        await guest.SendOutputAsync(FrameKind.Stdout, 1, 3, "three\n"u8.ToArray());
        await guest.SendOutputAsync(FrameKind.Stdout, 1, 4, "four\n"u8.ToArray());
        await guest.SendOutputAsync(FrameKind.Stderr, 1, 1, "err\n"u8.ToArray());
        var chunk = await output.Stdout.ReadChunkAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((4UL, "four\n"), (chunk!.Sequence, Encoding.ASCII.GetString(chunk.Data.Span)));
        Assert.Equal("err\n", Encoding.ASCII.GetString((await output.Stderr.ReadChunkAsync(CancellationToken.None))!.Data.Span));
        await GuestChannelTests.WaitUntil(() => guest.Acked(1) == 3); // the duplicates, acknowledged by the channel
        await output.Stdout.AcknowledgeAsync(chunk.Sequence); // the log pump's, once written
        await GuestChannelTests.WaitUntil(() => guest.Acked(1) == 4);
    }

    [Fact]
    public async Task An_exec_response_makes_its_output_and_naming_a_process_twice_is_a_violation()
    {
        var (channel, guest) = Pair(handler: async (g, id, request) =>
        {
            if (request is not ExecRequest)
            {
                return new GuestResponse();
            }

            await g.RespondAsync(id, new GuestResponse { ProcessId = 7, Pid = 70 });
            await g.SendOutputAsync(FrameKind.Stdout, 7, 1, "hi\n"u8.ToArray()); // right behind the response: must not be lost
            return null;
        });
        await using var _ = guest;
        await using var __ = channel;
        var exec = new ExecRequest(new GuestProcessSpec { Args = ["echo"], Env = [], Cwd = "/" });
        var response = await channel.RequestAsync(exec, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var chunk = await channel.Output(response.ProcessId!.Value)!.Stdout.ReadChunkAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("hi\n", Encoding.ASCII.GetString(chunk!.Data.Span));

        var again = await Assert.ThrowsAsync<GuestChannelException>(() => channel.RequestAsync(exec, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("two processes were given the id 7", again.Violation);
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "length", "Malformed guest frame (length 2000000" },
        { "kind", "Malformed guest frame (length 5, kind 99)" },
        { "request", "a Request frame goes from the host to the guest" },
        { "stdin", "a Stdin frame goes from the host to the guest" },
        { "ack", "a Ack frame goes from the host to the guest" },
        { "event-json", "" },
        { "event-unknown", "" },
        { "response-json", "" },
        { "no-sequence", "an output frame of process 1 has no sequence number" },
        { "sequence-0", "has sequence number 0" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Malformed_input_closes_the_channel_as_a_violation_with_a_reason(string what, string reason)
    {
        var (channel, guest) = Pair();
        await using var _ = guest;
        await using var __ = channel;
        channel.Claim(1);
        var header = new byte[GuestProtocol.HeaderLength];
        switch (what)
        {
            case "length":
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header, 2_000_000);
                header[4] = (byte)FrameKind.Stdout;
                await guest.SendRawAsync(header);
                break;
            case "kind":
                GuestProtocol.WriteHeader(header, FrameKind.Stdout, 1, 0);
                header[4] = 99;
                await guest.SendRawAsync(header);
                break;
            case "request":
                await guest.SendAsync(FrameKind.Request, 1, "{\"op\":\"ps\"}"u8.ToArray());
                break;
            case "stdin":
                await guest.SendAsync(FrameKind.Stdin, 1, [1]);
                break;
            case "ack":
                await guest.SendAsync(FrameKind.Ack, 1, GuestProtocol.Ack(FrameKind.Stdout, 1));
                break;
            case "event-json":
                await guest.SendAsync(FrameKind.Event, 0, "{\"event\":"u8.ToArray());
                break;
            case "event-unknown":
                await guest.SendAsync(FrameKind.Event, 0, "{\"event\":\"boom\",\"x\":1}"u8.ToArray());
                break;
            case "response-json":
                await guest.SendAsync(FrameKind.Response, 5, [0xff, 0xfe]);
                break;
            case "sequence-0":
                await guest.SendOutputAsync(FrameKind.Stdout, 1, 0, [1]);
                break;
            case "no-sequence":
                await guest.SendAsync(FrameKind.Stdout, 1, [1, 2, 3]);
                break;
        }

        await channel.Closed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(channel.Violation);
        Assert.Contains(reason, channel.Violation);
    }

    [Fact]
    public async Task An_older_guest_keeps_a_few_unclaimed_processes_and_a_full_stream_holds_the_channel_back()
    {
        var (channel, guest) = Pair(version: 2);
        await using var _ = guest;
        await using var __ = channel;
        var flood = Task.Run(async () =>
        {
            try
            {
                for (uint id = 2; id < 200; id++)
                {
                    await guest.SendAsync(FrameKind.Stdout, id, new byte[1000]);
                }

                for (var i = 0; i < 64; i++)
                {
                    await guest.SendAsync(FrameKind.Stdout, 500, new byte[64 * 1024]); // 4 MiB nobody reads
                }
            }
            catch (IOException)
            {
            }
        });

        await GuestChannelTests.WaitUntil(() => channel.Output(500) is { BufferedBytes: >= Window });
        Assert.True(channel.OutputCount <= GuestChannel.MaxUnclaimed, $"{channel.OutputCount} processes kept");
        Assert.True(channel.BufferedOutputBytes <= GuestChannel.MaxUnclaimed * 1000 + Window + 64 * 1024, $"{channel.BufferedOutputBytes} bytes kept");
        Assert.False(flood.IsCompleted); // the guest's writes wait: back-pressure, not memory
        await channel.DisposeAsync();
        await flood.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Random and mutated frames, with a fixed seed and a time bound: the only way the channel ends is a clean close
    /// or a protocol violation (no other exception escapes its reader), and what it holds stays bounded.
    /// </summary>
    [Fact]
    public async Task Fuzzed_frames_end_only_in_a_close_or_a_violation_and_memory_stays_bounded()
    {
        var random = new Random(20261203);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var runs = 0;
        var violations = 0;
        long maxBuffered = 0;
        var before = GC.GetTotalMemory(forceFullCollection: true);
        while (DateTime.UtcNow < deadline && runs < 400)
        {
            runs++;
            var version = random.Next(4) == 0 ? 2 : GuestProtocol.Version;
            var (channel, guest) = Pair(version, (g, id, request) => Task.FromResult<GuestResponse?>(request switch
            {
                ExecRequest => new GuestResponse { ProcessId = id % 5 + 1 },
                _ => new GuestResponse(),
            }));
            channel.Claim(1);
            _ = channel.RequestAsync(new ExecRequest(new GuestProcessSpec { Args = ["x"], Env = [], Cwd = "/" }), CancellationToken.None).ContinueWith(t => t.Exception, TaskScheduler.Default);
            using var sending = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                for (var i = random.Next(1, 60); i > 0; i--)
                {
                    await guest.SendRawAsync(RandomFrame(random), sending.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                // The channel hung up on a violation, or an older guest's full stream holds the channel back.
            }

            await guest.DisposeAsync();
            await Task.WhenAny(channel.Closed, Task.Delay(TimeSpan.FromSeconds(5)));
            maxBuffered = Math.Max(maxBuffered, channel.BufferedOutputBytes);
            Assert.True(channel.OutputCount <= 6 + GuestChannel.MaxUnclaimed, $"run {runs}: {channel.OutputCount} processes kept");
            Assert.True(channel.BufferedOutputBytes <= channel.OutputCount * 2L * (Window + GuestProtocol.MaxPayload), $"run {runs}: {channel.BufferedOutputBytes} bytes kept");
            violations += channel.Violation is null ? 0 : 1;
            await channel.DisposeAsync(); // rethrows anything unexpected the reader died of
        }

        Assert.True(runs >= 20, $"only {runs} runs");
        Assert.True(violations > 0, "the fuzzer never produced a violation: it is not hostile enough");
        var grown = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(grown < 64L << 20, $"managed memory grew by {grown >> 20} MiB over {runs} runs (max {maxBuffered} bytes buffered)");
    }

    private static byte[] RandomFrame(Random random)
    {
        var kinds = new[] { FrameKind.Stdout, FrameKind.Stderr, FrameKind.Event, FrameKind.Response, FrameKind.Stdout, FrameKind.Stdout };
        var kind = kinds[random.Next(kinds.Length)];
        var channelId = random.Next(3) switch { 0 => 1u, 1 => (uint)random.Next(1, 8), _ => (uint)random.Next() };
        byte[] payload = kind switch
        {
            FrameKind.Event => JsonSerializer.SerializeToUtf8Bytes<GuestEvent>(new ProcessExitedEvent((uint)random.Next(1, 8), random.Next(256)), GuestJsonContext.Default.GuestEvent),
            FrameKind.Response => JsonSerializer.SerializeToUtf8Bytes(new GuestResponse { ProcessId = (uint)random.Next(1, 8) }, GuestJsonContext.Default.GuestResponse),
            _ => Sequenced((ulong)random.Next(0, 40), random.Next(4) == 0 ? 64 * 1024 : random.Next(0, 4096), random),
        };
        var frame = new byte[GuestProtocol.HeaderLength + payload.Length];
        GuestProtocol.WriteHeader(frame, kind, channelId, payload.Length);
        payload.CopyTo(frame, GuestProtocol.HeaderLength);
        switch (random.Next(8))
        {
            case 0: // flip a byte anywhere
                frame[random.Next(frame.Length)] ^= (byte)random.Next(1, 256);
                break;
            case 1: // cut it short
                return frame[..random.Next(1, frame.Length)];
            case 2: // random garbage
                var garbage = new byte[random.Next(1, 64)];
                random.NextBytes(garbage);
                return garbage;
        }

        return frame;
    }

    private static byte[] Sequenced(ulong sequence, int length, Random random)
    {
        var payload = new byte[GuestProtocol.SequenceLength + length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(payload, sequence);
        random.NextBytes(payload.AsSpan(GuestProtocol.SequenceLength));
        return payload;
    }
}
