using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Hosts;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>The live view of one agent: reconnect with capped backoff and a fresh snapshot, errors kept, statistics sampled.</summary>
public sealed class AgentHostTests : PortalTest
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 16)]
    [InlineData(6, 30)]
    [InlineData(60, 30)]
    public void Backoff_doubles_per_failure_up_to_the_cap(int failures, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), AgentHost.Backoff(failures, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)));

    [Fact]
    public async Task A_dropped_connection_reconnects_and_starts_again_from_a_fresh_snapshot()
    {
        var first = await Ctx.AddHostAsync("alpha", Views.View("a", ContainerState.Running), Views.View("b", ContainerState.Stopped));
        var host = Ctx.Fleet.Hosts.Single();
        Assert.Equal(2, host.Containers.Count);

        await first.DropAsync("connection reset by peer");
        var second = await PortalTestContext.Eventually(() => Ctx.Clients.Created.Count > 1 && Ctx.Clients.Created[^1].Connected ? Ctx.Clients.Created[^1] : null);
        Assert.True(first.Disposed);
        Assert.Equal(HostConnectionState.Reconnecting, host.State);
        Assert.Contains("connection reset by peer", host.LastError);

        // What was removed while disconnected disappears: the snapshot replaces, it does not merge.
        second.Push(Views.Snapshot(Views.View("c", ContainerState.Running)));
        await PortalTestContext.Eventually(() => host.State == HostConnectionState.Connected);
        Assert.Equal(["c"], host.Containers.Values.Select(v => v.Container.Name));
        Assert.Null(host.LastError);
        Assert.Equal(0, host.FailedAttempts);
    }

    [Fact]
    public async Task Failed_attempts_keep_the_agents_message_and_count_up()
    {
        Ctx.Clients.Configure = c => c.ConnectError = new AgentException("Unauthorized", "The agent at http://alpha.test:5081 refused the API key (401).");
        var host = await Ctx.Fleet.AddAsync("alpha", "http://alpha.test:5081", "pk_wrong", CancellationToken.None);

        await PortalTestContext.Eventually(() => host.FailedAttempts >= 3);
        Assert.Equal(HostConnectionState.Reconnecting, host.State);
        Assert.Contains("refused the API key", host.LastError);
        Assert.NotNull(host.NextAttemptAt);
        Assert.Throws<AgentException>(() => host.Client);

        Ctx.Clients.Configure = null;
        var client = await PortalTestContext.Eventually(() => Ctx.Clients.Created[^1] is { Connected: true } c ? c : null);
        client.Push(Views.Snapshot());
        await PortalTestContext.Eventually(() => host.State == HostConnectionState.Connected);
        Assert.Same(client, host.Client);
    }

    [Fact]
    public async Task Statistics_of_running_containers_give_cpu_percent_from_two_samples()
    {
        var web = Views.View("web", ContainerState.Running);
        var client = await Ctx.AddHostAsync("alpha", web, Views.View("idle", ContainerState.Stopped));
        var host = Ctx.Fleet.Hosts.Single();
        var start = DateTimeOffset.UtcNow;
        client.Statistics[web.Container.Id] = Sample(start, cpuSeconds: 10, memory: 50 << 20);
        await PortalTestContext.Eventually(() => host.Usage.ContainsKey(web.Container.Id));
        client.Statistics[web.Container.Id] = Sample(start.AddSeconds(2), cpuSeconds: 11, memory: 60 << 20);

        var usage = await PortalTestContext.Eventually(() => host.Usage.GetValueOrDefault(web.Container.Id) is { CpuPercent: not null } u ? u : null);
        Assert.Equal(50, usage.CpuPercent!.Value, precision: 1);
        Assert.Equal(60 << 20, usage.MemoryBytes);
        Assert.DoesNotContain(client.Calls, c => c.StartsWith("GetStatistics ", StringComparison.Ordinal)); // one call per round for the host
    }

    [Fact]
    public async Task A_failed_statistics_round_keeps_the_connection()
    {
        var web = Views.View("web", ContainerState.Running);
        var client = await Ctx.AddHostAsync("alpha", web);
        var host = Ctx.Fleet.Hosts.Single();
        client.Failures["GetAllStatistics"] = new AgentException("RuntimeFailure", "The engine failed unexpectedly; the agent's log has the details.");
        await PortalTestContext.Eventually(() => client.Calls.Count(c => c.StartsWith("GetAllStatistics", StringComparison.Ordinal)) >= 2 ? client : null);
        Assert.Equal(HostConnectionState.Connected, host.State);
        Assert.Single(Ctx.Clients.Created);

        client.Failures.TryRemove("GetAllStatistics", out _);
        client.Statistics[web.Container.Id] = Sample(DateTimeOffset.UtcNow, cpuSeconds: 1, memory: 10 << 20);
        await PortalTestContext.Eventually(() => host.Usage.GetValueOrDefault(web.Container.Id));
    }

    [Fact]
    public async Task Removing_a_host_closes_its_connection()
    {
        var client = await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running));
        var host = Ctx.Fleet.Hosts.Single();

        await Ctx.Fleet.RemoveAsync(host.Id, CancellationToken.None);

        Assert.Empty(Ctx.Fleet.Hosts);
        Assert.True(client.Disposed);
        Assert.Equal(HostConnectionState.Stopped, host.State);
        Assert.Empty(await Ctx.Services.GetRequiredService<HostRegistry>().ListAsync(CancellationToken.None));
    }

    private static ContainerStatistics Sample(DateTimeOffset at, double cpuSeconds, long memory) =>
        new() { Timestamp = at, CpuSeconds = cpuSeconds, MemoryBytes = memory, Pids = 1 };
}
