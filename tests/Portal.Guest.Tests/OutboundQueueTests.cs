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
        var queue = new OutboundQueue(outputLimitBytes: 100);
        queue.Enqueue(Output(1, 60));
        queue.Enqueue(Exit(1));
        queue.Enqueue(Output(2, 60));
        queue.Enqueue(Output(2, 30));
        var frames = queue.Snapshot();
        Assert.Equal([FrameKind.Event, FrameKind.Stdout, FrameKind.Stdout], frames.Select(f => f.Kind));
        Assert.Equal(90, queue.BufferedOutputBytes);
        Assert.Equal(60, queue.DroppedOutputBytes);
    }

    [Fact]
    public void A_new_session_drops_old_responses_and_resends_written_exit_events_before_pending_frames()
    {
        var queue = new OutboundQueue();
        queue.StartSession(Response(1));
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Exit(2));
        var exit = queue.TryTake()!;
        queue.Written(exit);
        queue.Enqueue(Response(5));
        queue.Enqueue(Output(3, 4));
        queue.EndSession();
        Assert.Null(queue.TryTake());
        queue.Enqueue(Output(3, 5));

        queue.StartSession(Response(1));
        var replay = new List<OutboundFrame>();
        while (queue.TryTake() is { } f)
        {
            replay.Add(f);
            queue.Written(f);
        }

        Assert.Equal([FrameKind.Response, FrameKind.Event, FrameKind.Stdout, FrameKind.Stdout], replay.Select(f => f.Kind));
        Assert.Equal(2u, replay[1].ExitedProcess);
        Assert.Equal([4, 5], replay.Skip(2).Select(f => f.Payload.Length));
    }

    [Fact]
    public void An_unsent_frame_goes_first_next_time_but_an_unsent_response_is_dropped()
    {
        var queue = new OutboundQueue();
        queue.StartSession(Response(1));
        queue.Written(queue.TryTake()!);
        queue.Enqueue(Output(1, 3));
        queue.Enqueue(Output(1, 4));
        var first = queue.TryTake()!;
        queue.Unsent(first);
        queue.EndSession();
        queue.StartSession(Response(9));
        var response = queue.TryTake()!;
        queue.Unsent(response);
        Assert.Equal([3, 4], queue.Snapshot().Select(f => f.Payload.Length));
        Assert.True(queue.TryTake() is { } next && queue.Snapshot().Count == 1 && next.Payload.Length == 3);
    }
}
