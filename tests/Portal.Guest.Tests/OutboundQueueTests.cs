using Portal.Contracts.Guest;
using Portal.Guest.Wire;

namespace Portal.Guest.Tests;

public sealed class OutboundQueueTests
{
    private static OutboundFrame Output(uint process, int bytes) => new(FrameKind.Stdout, process, new byte[bytes]);

    private static OutboundFrame Exit(uint process) => new(FrameKind.Event, 0, [1], process);

    private static OutboundFrame Response(uint id) => new(FrameKind.Response, id, [2]);

    [Fact]
    public void Nothing_is_written_before_a_hello_and_the_hello_response_goes_first()
    {
        var queue = new OutboundQueue();
        queue.Enqueue(Output(1, 10));
        Assert.Null(queue.TryTake());
        queue.StartSession(Response(1));
        Assert.Equal(FrameKind.Response, queue.TryTake()!.Kind);
        Assert.Equal(FrameKind.Stdout, queue.TryTake()!.Kind);
        Assert.Null(queue.TryTake());
    }

    [Fact]
    public void Output_over_the_limit_drops_the_oldest_output_but_never_events()
    {
        var queue = new OutboundQueue(outputLimitBytes: 100, version: 2); // an older host: no acknowledgements
        queue.Enqueue(Output(1, 60));
        queue.Enqueue(Exit(1));
        queue.Enqueue(Output(2, 60));
        queue.Enqueue(Output(2, 30));
        var frames = queue.Snapshot();
        Assert.Equal([FrameKind.Event, FrameKind.Stdout, FrameKind.Stdout], frames.Select(f => f.Kind));
        Assert.Equal(90, queue.BufferedOutputBytes);
        Assert.Equal(60, queue.DroppedOutputBytes);
    }

    [Theory]
    [InlineData(3, false)] // an older host numbers requests from 1 again on every connection: an old answer would match a new request
    [InlineData(4, true)] // protocol 4: ids are random per connection; a Hello sent again on the same one must still get its answers
    public void A_new_session_keeps_queued_responses_from_protocol_4_and_resends_written_exit_events_before_pending_frames(int version, bool kept)
    {
        var queue = new OutboundQueue(version: version);
        queue.StartSession(Response(1), version);
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Exit(2));
        var exit = queue.TryTake()!;
        queue.Written(exit);
        queue.Enqueue(Response(5));
        queue.Enqueue(Output(3, 4));
        queue.EndSession();
        Assert.Null(queue.TryTake());
        queue.Enqueue(Output(3, 5));

        queue.StartSession(Response(1), version);
        var replay = new List<OutboundFrame>();
        while (queue.TryTake() is { } f)
        {
            replay.Add(f);
            queue.Written(f);
        }

        FrameKind[] expected = kept
            ? [FrameKind.Response, FrameKind.Event, FrameKind.Response, FrameKind.Stdout, FrameKind.Stdout]
            : [FrameKind.Response, FrameKind.Event, FrameKind.Stdout, FrameKind.Stdout];
        Assert.Equal(expected, replay.Select(f => f.Kind));
        Assert.Equal(2u, replay[1].ExitedProcess);
        Assert.Equal([4, 5], replay.Where(f => f.IsOutput).Select(f => f.Payload.Length));
        Assert.Equal(kept, replay.Any(f => f.Kind == FrameKind.Response && f.Channel == 5));
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void An_unsent_frame_goes_first_next_time_and_an_unsent_response_too_from_protocol_4(int version, bool kept)
    {
        var queue = new OutboundQueue(version: version);
        queue.StartSession(Response(1), version);
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Output(1, 3));
        queue.Enqueue(Output(1, 4));
        var first = queue.TryTake()!;
        queue.Unsent(first);
        queue.EndSession();
        queue.StartSession(Response(9), version);
        var response = queue.TryTake()!;
        queue.Unsent(response);
        int[] expected = kept ? [1, 3, 4] : [3, 4];
        Assert.Equal(expected, queue.Snapshot().Select(f => f.Payload.Length));
    }

    [Fact]
    public void Output_is_numbered_per_process_and_stream_and_carries_its_number_from_protocol_3()
    {
        var queue = new OutboundQueue();
        queue.Enqueue(Output(1, 1));
        queue.Enqueue(new OutboundFrame(FrameKind.Stderr, 1, [7]));
        queue.Enqueue(Output(1, 1));
        queue.Enqueue(Output(2, 1));
        Assert.Equal([1UL, 1UL, 2UL, 1UL], queue.Snapshot().Select(f => f.Sequence));

        var frame = queue.Snapshot()[2];
        var v3 = frame.Encode(3);
        Assert.Equal(GuestProtocol.HeaderLength + GuestProtocol.SequenceLength + 1, v3.Length);
        Assert.Equal(2UL, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(v3.AsSpan(GuestProtocol.HeaderLength)));
        Assert.Equal(GuestProtocol.HeaderLength + 1, frame.Encode(2).Length);
    }

    [Fact]
    public async Task Output_past_the_window_waits_for_an_acknowledgement_instead_of_growing()
    {
        var queue = new OutboundQueue(window: 100);
        queue.StartSession(Response(1));
        queue.Written(queue.TryTake()!);
        Assert.True(queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[60], () => false));
        var sent = queue.TryTake()!;
        queue.Written(sent); // on the wire, not yet acknowledged: still counts

        var second = Task.Run(() => queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[60], () => false));
        Assert.True(queue.EnqueueOutput(FrameKind.Stderr, 1, new byte[60], () => false)); // the other stream has its own window
        await Task.Delay(300);
        Assert.False(second.IsCompleted);
        Assert.Equal(60, queue.UnacknowledgedOutputBytes);

        queue.Acknowledge(1, FrameKind.Stdout, sent.Sequence);
        Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, queue.UnacknowledgedOutputBytes);
    }

    [Fact]
    public async Task A_pump_waiting_for_the_window_gives_up_when_cancelled()
    {
        var queue = new OutboundQueue(window: 10);
        Assert.True(queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[10], () => false));
        var cancelled = false;
        var waiting = Task.Run(() => queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[10], () => Volatile.Read(ref cancelled)));
        Volatile.Write(ref cancelled, true);
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(queue.Snapshot());
    }

    [Fact]
    public void Unacknowledged_output_is_sent_again_on_the_next_hello_before_the_exit_events()
    {
        var queue = new OutboundQueue();
        queue.StartSession(Response(1));
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Output(1, 3));
        queue.Enqueue(Output(1, 4));
        queue.Enqueue(Exit(1));
        var one = queue.TryTake()!;
        queue.Written(one);
        queue.Acknowledge(1, FrameKind.Stdout, one.Sequence); // delivered: never again
        queue.Written(queue.TryTake()!); // written, but the host died before acknowledging it
        queue.Written(queue.TryTake()!);
        queue.EndSession();

        queue.StartSession(Response(2));
        var replay = new List<OutboundFrame>();
        while (queue.TryTake() is { } f)
        {
            replay.Add(f);
            queue.Written(f);
        }

        Assert.Equal([FrameKind.Response, FrameKind.Stdout, FrameKind.Event], replay.Select(f => f.Kind));
        Assert.Equal(2UL, replay[1].Sequence);
    }

    [Fact]
    public void An_acknowledgement_that_overtakes_Written_still_opens_the_window()
    {
        var queue = new OutboundQueue(window: 10);
        queue.StartSession(Response(1));
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Output(1, 10));
        var frame = queue.TryTake()!;
        queue.Acknowledge(1, FrameKind.Stdout, frame.Sequence); // the host was quicker than the writer thread
        queue.Written(frame);
        Assert.Equal(0, queue.UnacknowledgedOutputBytes);
        Assert.True(queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[10], () => true)); // would give up at once if it had to wait
    }

    [Fact]
    public void With_an_older_host_written_output_is_not_kept_and_nothing_waits()
    {
        var queue = new OutboundQueue(window: 10);
        queue.StartSession(Response(1), sessionVersion: 2);
        queue.Written(queue.TryTake()!);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(queue.EnqueueOutput(FrameKind.Stdout, 1, new byte[10], () => true));
            queue.Written(queue.TryTake()!);
        }

        Assert.Equal(0, queue.UnacknowledgedOutputBytes);
    }
}
