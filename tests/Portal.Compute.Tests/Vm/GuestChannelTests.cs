using System.Text;
using Portal.Compute.Linux.Vm;
using Portal.Contracts.Guest;

namespace Portal.Compute.Tests.Vm;

public sealed class GuestChannelTests
{
    [Fact]
    public async Task Responses_are_matched_to_requests_by_id_even_out_of_order()
    {
        var (host, guest) = FakeGuest.Pair();
        await using var fake = new FakeGuest(guest, async (_, _, request) =>
        {
            switch (request)
            {
                case SignalRequest s:
                    await Task.Delay(s.Signal * 30); // later requests answer first
                    return new GuestResponse { Pid = s.Signal };
                default:
                    return new GuestResponse { Error = "unexpected" };
            }
        });
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true));
        var requests = Enumerable.Range(1, 8).Reverse().Select(i => channel.RequestAsync(new SignalRequest(1, i), CancellationToken.None)).ToList();
        var responses = await Task.WhenAll(requests);
        Assert.Equal(Enumerable.Range(1, 8).Reverse(), responses.Select(r => r.Pid!.Value));
    }

    [Fact]
    public async Task A_guest_error_throws_with_its_message()
    {
        var (host, guest) = FakeGuest.Pair();
        await using var fake = new FakeGuest(guest, (_, _, _) => Task.FromResult<GuestResponse?>(new GuestResponse { Error = "no such file: /bin/nope" }));
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true));
        var e = await Assert.ThrowsAsync<GuestChannelException>(() => channel.RequestAsync(new ListProcessesRequest(), CancellationToken.None));
        Assert.True(e.FromGuest);
        Assert.Contains("/bin/nope", e.Message);
    }

    [Fact]
    public async Task Stdio_is_demultiplexed_per_process_and_an_older_guests_output_before_a_claim_is_kept()
    {
        var (host, guest) = FakeGuest.Pair();
        await using var fake = new FakeGuest(guest, (_, _, _) => Task.FromResult<GuestResponse?>(new GuestResponse()));
        var exits = new List<ProcessExitedEvent>();
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true), e =>
        {
            if (e is ProcessExitedEvent x)
            {
                lock (exits)
                {
                    exits.Add(x);
                }
            }
        });
        await fake.SendAsync(FrameKind.Stdout, 2, "two-out\n"u8.ToArray());
        await fake.SendAsync(FrameKind.Stderr, 2, "two-err\n"u8.ToArray());
        await fake.SendAsync(FrameKind.Stdout, 3, "three\n"u8.ToArray());
        await fake.SendEventAsync(new ProcessExitedEvent(2, 7));
        await WaitUntil(() => exits.Count == 1);
        channel.Output(2)!.Complete();
        channel.Output(3)!.Complete();
        Assert.Equal("two-out\n", await new StreamReader(channel.Output(2)!.StandardOutput).ReadToEndAsync());
        Assert.Equal("two-err\n", await new StreamReader(channel.Output(2)!.StandardError).ReadToEndAsync());
        Assert.Equal("three\n", await new StreamReader(channel.Output(3)!.StandardOutput).ReadToEndAsync());
        Assert.Equal(new ProcessExitedEvent(2, 7), exits[0]);
    }

    [Fact]
    public async Task Stdin_goes_out_as_frames_and_closing_sends_an_empty_one()
    {
        var (host, guest) = FakeGuest.Pair();
        await using var fake = new FakeGuest(guest, (_, _, _) => Task.FromResult<GuestResponse?>(new GuestResponse()));
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true));
        await using (var stdin = new GuestStdinStream(channel, 5))
        {
            await stdin.WriteAsync(Encoding.UTF8.GetBytes("hello"));
        }

        await WaitUntil(() => fake.Stdin.Count == 2);
        var frames = fake.Stdin.ToArray();
        Assert.Equal((5u, "hello"), (frames[0].Channel, Encoding.UTF8.GetString(frames[0].Data)));
        Assert.Empty(frames[1].Data);
    }

    [Fact]
    public async Task A_closed_guest_fails_pending_requests_and_completes_Closed()
    {
        var (host, guest) = FakeGuest.Pair();
        var fake = new FakeGuest(guest, (_, _, _) => Task.FromResult<GuestResponse?>(null)); // never answers
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true));
        var pending = channel.RequestAsync(new StatisticsRequest(), CancellationToken.None);
        await Task.Delay(50);
        await fake.DisposeAsync();
        await Assert.ThrowsAsync<GuestChannelException>(() => pending);
        await channel.Closed.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Connect_retries_until_the_socket_exists_then_says_hello()
    {
        var path = Path.Combine("/tmp", $"gc-{Guid.NewGuid():N}.sock");
        var serve = Task.Run(async () =>
        {
            await Task.Delay(300);
            using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var socket = await listener.AcceptAsync();
            return new FakeGuest(socket, (_, _, r) => Task.FromResult<GuestResponse?>(r is HelloRequest ? new GuestResponse { Version = GuestProtocol.Version, Kernel = "6.1.0-fake" } : new GuestResponse()));
        });
        try
        {
            await using var channel = await GuestChannel.ConnectAsync(path, null, () => true, TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.Equal("6.1.0-fake", channel.GuestKernel);
            await (await serve).DisposeAsync();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(1, 1)] // an older guest refuses hello 2: the host says hello 1 and knows it has no networking
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 4)]
    [InlineData(5, 4)] // a newer guest answers the host's version
    public async Task The_protocol_version_is_negotiated_down_to_what_both_speak(int guestVersion, int agreed)
    {
        var path = Path.Combine("/tmp", $"gc-{Guid.NewGuid():N}.sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var serve = Task.Run(async () => new FakeGuest(await listener.AcceptAsync(), (_, _, r) => Task.FromResult<GuestResponse?>(r switch
        {
            // The guest agents' rule: refuse an unknown version only when older ones existed; else answer the lower one.
            HelloRequest h when guestVersion == 1 && h.Version != 1 => new GuestResponse { Version = 1, Error = $"protocol version {h.Version} is not supported" },
            HelloRequest h => new GuestResponse { Version = Math.Min(h.Version, guestVersion), Kernel = "6.1.0-fake" },
            _ => new GuestResponse(),
        })));
        try
        {
            await using var channel = await GuestChannel.ConnectAsync(path, null, () => true, TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.Equal(agreed, channel.Version);
            await (await serve).DisposeAsync();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Connect_gives_up_at_once_when_the_worker_is_dead()
    {
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<GuestChannelException>(() => GuestChannel.ConnectAsync("/tmp/does-not-exist.sock", null, () => false, TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_guest_that_went_quiet_is_said_hello_again_and_a_request_sent_again_is_answered_once_with_its_output()
    {
        // The guest ended its session on a late hang-up: it runs the exec but keeps the answer and the output until a
        // Hello. Like the real guest, it answers the exec sent again with its first response.
        var (host, guest) = FakeGuest.Pair();
        var listening = false;
        var held = new List<(uint Id, GuestResponse Response)>();
        var execIds = new System.Collections.Concurrent.ConcurrentQueue<uint>();
        var gate = new SemaphoreSlim(1, 1);
        await using var fake = new FakeGuest(guest, async (g, id, request) =>
        {
            await gate.WaitAsync();
            try
            {
                switch (request)
                {
                    case HelloRequest:
                        await g.RespondAsync(id, new GuestResponse { Version = GuestProtocol.Version });
                        listening = true;
                        foreach (var (heldId, response) in held)
                        {
                            await g.RespondAsync(heldId, response);
                            await g.SendOutputAsync(FrameKind.Stdout, 2, 1, "hi\n"u8.ToArray());
                        }

                        held.Clear();
                        return null;
                    case ExecRequest:
                        execIds.Enqueue(id);
                        var exec = new GuestResponse { ProcessId = 2, Pid = 40 };
                        if (!listening)
                        {
                            held.Add((id, exec));
                            return null;
                        }

                        return exec;
                    default:
                        return new GuestResponse();
                }
            }
            finally
            {
                gate.Release();
            }
        });
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true), version: GuestProtocol.Version,
            probe: new GuestProbe(TimeSpan.FromMilliseconds(200), TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)));

        var response = await channel.RequestAsync(new ExecRequest(new GuestProcessSpec { Args = ["echo", "hi"], Env = [], Cwd = "/" }), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2u, response.ProcessId);
        Assert.True(channel.Probes >= 1);
        Assert.Equal("hi\n", Encoding.UTF8.GetString((await channel.Output(2)!.Stdout.ReadChunkAsync(CancellationToken.None))!.Data.Span));

        Assert.Single(execIds.Distinct()); // if it went out again (the answer may come first), then under the same id
    }

    [Fact]
    public async Task A_request_the_guest_never_answered_is_sent_again_under_its_id_and_a_second_answer_is_ignored()
    {
        var (host, guest) = FakeGuest.Pair();
        var execIds = new System.Collections.Concurrent.ConcurrentQueue<uint>();
        await using var fake = new FakeGuest(guest, async (g, id, request) =>
        {
            if (request is not ExecRequest)
            {
                return new GuestResponse { Version = GuestProtocol.Version };
            }

            execIds.Enqueue(id);
            if (execIds.Count == 1)
            {
                return null; // lost: the real guest answers a copy from its request log, or when it finishes
            }

            await g.RespondAsync(id, new GuestResponse { ProcessId = 2, Pid = 40 });
            return new GuestResponse { ProcessId = 2, Pid = 40 }; // the same answer twice must not read as a second process
        });
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true), version: GuestProtocol.Version,
            probe: new GuestProbe(TimeSpan.FromMilliseconds(200), TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)));

        var response = await channel.RequestAsync(new ExecRequest(new GuestProcessSpec { Args = ["true"], Env = [], Cwd = "/" }), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2u, response.ProcessId);
        Assert.Single(execIds.Distinct());
        Assert.NotNull(await channel.RequestAsync(new StatisticsRequest(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Null(channel.Violation);
        Assert.False(channel.Closed.IsCompleted);
    }

    [Fact]
    public async Task An_idle_channel_is_probed_and_a_guest_that_answers_no_hello_is_hung_up_on_with_the_reason()
    {
        var (host, guest) = FakeGuest.Pair();
        var answering = true;
        await using var fake = new FakeGuest(guest, (_, _, request) => Task.FromResult<GuestResponse?>(Volatile.Read(ref answering) ? new GuestResponse { Version = GuestProtocol.Version } : null));
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true), version: GuestProtocol.Version,
            probe: new GuestProbe(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500)));

        await WaitUntil(() => channel.Probes >= 2);
        Assert.False(channel.Closed.IsCompleted);

        Volatile.Write(ref answering, false);
        await channel.Closed.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains("answered no Hello", channel.CloseReason, StringComparison.Ordinal);
        Assert.Null(channel.Violation); // not the guest's fault for sure: its owner connects again
    }

    [Fact]
    public async Task Output_sent_again_while_its_first_copy_waits_for_the_reader_is_acknowledged_only_once_read()
    {
        var (host, guest) = FakeGuest.Pair();
        await using var fake = new FakeGuest(guest, (_, _, _) => Task.FromResult<GuestResponse?>(new GuestResponse()));
        await using var channel = GuestChannel.Over(new System.Net.Sockets.NetworkStream(host, ownsSocket: true), version: GuestProtocol.Version);
        var output = channel.Claim(2);
        await fake.SendOutputAsync(FrameKind.Stdout, 2, 1, "a"u8.ToArray());
        await fake.SendOutputAsync(FrameKind.Stdout, 2, 1, "a"u8.ToArray()); // again, after a probe's Hello
        await fake.SendOutputAsync(FrameKind.Stdout, 2, 2, "b"u8.ToArray());
        await WaitUntil(() => channel.BufferedOutputBytes == 2);
        Assert.Equal(0UL, fake.Acked(2)); // acknowledging the copy would open the window under a reader that has not read

        var read = new byte[1];
        Assert.Equal(1, await output.Stdout.ReadAsync(read));
        await WaitUntil(() => fake.Acked(2) == 1);
        await fake.SendOutputAsync(FrameKind.Stdout, 2, 1, "a"u8.ToArray()); // delivered before: acknowledged again
        await WaitUntil(() => fake.Acks.Count(a => a.Process == 2 && a.Sequence == 1) == 2);
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition());
    }
}
