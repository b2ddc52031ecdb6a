using Portal.Agent.Hub;
using Portal.Contracts;
using Portal.Tests.Shared.Compute;

namespace Portal.Agent.Tests.Hub;

/// <summary>The hub's fan-out alone (unit tier), over a fake compute host: every subscriber gets every change through its own channel.</summary>
public sealed class ContainerFeedTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Every_subscriber_gets_every_change_in_order()
    {
        var host = new FakeComputeHost();
        using var feed = new ContainerFeed(host);
        using var first = feed.Subscribe();
        using var second = feed.Subscribe();

        await host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "a", Image = "busybox" });
        await host.Containers.StartContainerAsync("a");

        foreach (var subscription in new[] { first, second })
        {
            var kinds = await ReadAsync(subscription, 2);
            Assert.Equal([ContainerEventKind.Created, ContainerEventKind.Started], kinds);
        }
    }

    [Fact]
    public async Task A_subscriber_that_does_not_read_holds_up_no_one_and_a_disposed_one_gets_nothing_more()
    {
        var host = new FakeComputeHost();
        using var feed = new ContainerFeed(host);
        using var idle = feed.Subscribe(); // never read: its channel just fills
        var gone = feed.Subscribe();
        gone.Dispose();
        using var reader = feed.Subscribe();

        for (var i = 0; i < 200; i++)
        {
            await host.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = $"c{i}", Image = "busybox" });
        }

        Assert.Equal(200, (await ReadAsync(reader, 200)).Count);
        await using var batches = gone.ReadBatchesAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.False(await batches.MoveNextAsync()); // completed when it was disposed
    }

    [Fact]
    public async Task Disposing_the_feed_completes_every_subscription()
    {
        var host = new FakeComputeHost();
        var feed = new ContainerFeed(host);
        using var subscription = feed.Subscribe();
        feed.Dispose();
        await using var batches = subscription.ReadBatchesAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.False(await batches.MoveNextAsync().AsTask().WaitAsync(Patience));
    }

    private static async Task<List<ContainerEventKind>> ReadAsync(ContainerFeed.Subscription subscription, int count)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var kinds = new List<ContainerEventKind>();
        await foreach (var batch in subscription.ReadBatchesAsync(timeout.Token))
        {
            kinds.AddRange(batch.Select(e => e.Kind));
            if (kinds.Count >= count)
            {
                break;
            }
        }

        return kinds;
    }
}
