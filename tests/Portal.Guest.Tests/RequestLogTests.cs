using System.Text;
using Portal.Contracts.Guest;

namespace Portal.Guest.Tests;

public sealed class RequestLogTests
{
    private static readonly byte[] Exec = Encoding.UTF8.GetBytes("""{"op":"exec","process":{"args":["sh"]}}""");

    [Fact]
    public void A_request_sent_again_is_answered_with_its_first_response_and_not_run_again()
    {
        var log = new RequestLog();
        Assert.True(log.TryBegin(7, Exec, out _));
        Assert.False(log.TryBegin(7, Exec, out var running));
        Assert.Null(running); // still running: it answers when it finishes

        log.Complete(7, new GuestResponse { ProcessId = 2, Pid = 40 });
        Assert.False(log.TryBegin(7, Exec, out var earlier));
        Assert.Equal(2u, earlier!.ProcessId);
    }

    [Fact]
    public void Another_request_under_a_known_id_runs()
    {
        var log = new RequestLog();
        Assert.True(log.TryBegin(7, Exec, out _));
        log.Complete(7, new GuestResponse { ProcessId = 2 });
        Assert.True(log.TryBegin(7, Encoding.UTF8.GetBytes("""{"op":"signal","processId":2,"signal":9}"""), out var earlier));
        Assert.Null(earlier);
        Assert.Equal(1, log.Count);
    }

    [Fact]
    public void Only_the_newest_requests_are_kept()
    {
        var log = new RequestLog(capacity: 3);
        for (uint id = 1; id <= 5; id++)
        {
            Assert.True(log.TryBegin(id, Exec, out _));
            log.Complete(id, new GuestResponse { ProcessId = id + 1 });
        }

        Assert.Equal(3, log.Count);
        Assert.True(log.TryBegin(1, Exec, out _)); // forgotten: runs (the host gives up on a request long before 256 newer ones)
        Assert.False(log.TryBegin(5, Exec, out var kept));
        Assert.Equal(6u, kept!.ProcessId);
    }
}
