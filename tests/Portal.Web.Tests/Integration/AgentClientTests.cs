using System.Formats.Tar;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Client;
using Portal.Compute;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Web.Hosts;

namespace Portal.Web.Tests.Integration;

/// <summary>The portal's agent client and live host view against the real agent process (root: it runs containers).</summary>
[Trait("Requires", "root")]
public sealed class AgentClientTests : IAsyncLifetime
{
    private readonly TestSandbox _sandbox = new("portal-web");
    private AgentProcess _agent = null!;

    /// <summary>Runs only for a test that runs: without root every test here is skipped and nothing starts.</summary>
    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _agent = new AgentProcess(_sandbox);
        await _agent.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            await _agent.DisposeAsync();
        }
        finally
        {
            _sandbox.Clean();
        }
    }

    [RootFact]
    public async Task Over_the_socket_the_client_streams_a_snapshot_then_changes_and_runs_commands()
    {
        await using var client = new AgentClient(AgentEndpoint.Socket(_agent.SocketPath));
        await client.ConnectAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var batches = client.SubscribeContainersAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await batches.MoveNextAsync());
        Assert.True(batches.Current.IsSnapshot);

        var created = await client.CreateContainerAsync(new ContainerCreateSpec { Name = "web-client", Image = "busybox", Command = ["sh", "-c", "echo hello from the client; sleep 300"] }, CancellationToken.None);
        await client.StartContainerAsync(created.Id, CancellationToken.None);
        await UntilAsync(batches, b => b.Changes.Any(c => c.Item?.Container.Name == "web-client" && c.Item.Container.State == ContainerState.Running));

        var view = (await client.GetHostAsync(CancellationToken.None));
        Assert.Contains(RuntimeType.Default, view.RuntimeTypes);
        var stats = await client.GetStatisticsAsync(created.Id, CancellationToken.None);
        Assert.True(stats.MemoryBytes > 0);
        var all = await client.GetAllStatisticsAsync(CancellationToken.None);
        Assert.True(all[created.Id].MemoryBytes > 0);
        var log = new StringBuilder();
        await foreach (var entry in client.LogsAsync(created.Id, 10, follow: false, cts.Token))
        {
            log.Append(entry.Text);
        }

        Assert.Contains("hello from the client", log.ToString());

        var refused = await Assert.ThrowsAsync<AgentException>(() => client.StartContainerAsync("no-such-container", CancellationToken.None));
        Assert.Equal("ContainerNotFound", refused.Code);
        Assert.Contains("no-such-container", refused.Message);

        // Conversion through the hub's stream: refused while running (the agent's code arrives as is), then step by step.
        var running = await Assert.ThrowsAsync<AgentException>(() => client.ConvertContainerAsync(created.Id, RuntimeType.HyperV, restart: false, null, CancellationToken.None));
        Assert.Equal("InvalidTransition", running.Code);
        await client.StopContainerAsync(created.Id, 1, CancellationToken.None);
        var steps = new List<OperationStep>();
        var converted = await client.ConvertContainerAsync(created.Id, RuntimeType.HyperV, restart: false, new SynchronousProgress<OperationStep>(steps.Add), CancellationToken.None);
        Assert.Equal(RuntimeType.HyperV, converted.RuntimeType);
        Assert.Equal("Converting web-client from Default to HyperV", Assert.Single(steps).Message);

        await client.RemoveContainerAsync(created.Id, force: true, CancellationToken.None);
        await UntilAsync(batches, b => b.Changes.Any(c => c.Kind == ChangeKind.Delete && c.Key == created.Id));
    }

    [RootFact]
    public async Task Over_tcp_the_key_is_required_and_images_import_with_progress()
    {
        var bad = new AgentClient(AgentEndpoint.Parse(_agent.TcpUri, "pk_00000000_wrong"));
        await using (bad)
        {
            var e = await Assert.ThrowsAsync<AgentException>(() => bad.ConnectAsync(CancellationToken.None));
            Assert.Equal("Unauthorized", e.Code);
        }

        await using var client = new AgentClient(AgentEndpoint.Parse(_agent.TcpUri, _agent.AdminKey));
        await client.ConnectAsync(CancellationToken.None);
        var archive = RootfsArchive();
        var reported = new List<long>();
        var imported = await client.ImportImageAsync(new MemoryStream(archive), archive.Length, "portal-web/rootfs:1", new SynchronousProgress<long>(reported.Add), CancellationToken.None);

        var image = Assert.Single(imported);
        Assert.Contains("portal-web/rootfs:1", image.Tags);
        Assert.Equal(archive.Length, reported[^1]);
        Assert.Contains(await client.ListImagesAsync(CancellationToken.None), i => i.Id == image.Id);

        await client.RemoveImageAsync("portal-web/rootfs:1", CancellationToken.None);
        Assert.DoesNotContain(await client.ListImagesAsync(CancellationToken.None), i => i.Id == image.Id);
        var missing = await Assert.ThrowsAsync<AgentException>(() => client.RemoveImageAsync("portal-web/rootfs:1", CancellationToken.None));
        Assert.Equal("ImageNotFound", missing.Code);
    }

    [RootFact]
    public async Task Switches_are_listed_created_and_removed_and_refusals_keep_the_agents_codes()
    {
        await using var client = new AgentClient(AgentEndpoint.Socket(_agent.SocketPath));
        await client.ConnectAsync(CancellationToken.None);

        await using var live = client.SubscribeSwitchesAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await live.MoveNextAsync());
        var before = await client.ListSwitchesAsync(CancellationToken.None);
        Assert.Equal(before.Select(s => s.Name).Order(), live.Current.Select(s => s.Name).Order());
        Assert.Contains(before, s => s.Name == "none" && s.IsBuiltIn && s.Type == SwitchType.None);
        var nat = Assert.Single(before, s => s.IsDefault);

        var lab = await client.CreateSwitchAsync(new SwitchCreateSpec { Name = "portal-lab", Type = SwitchType.Internal }, CancellationToken.None);
        Assert.Equal(SwitchType.Internal, lab.Type);
        Assert.NotNull(lab.Subnet);
        while (await live.MoveNextAsync() && !live.Current.Any(s => s.Name == "portal-lab"))
        {
        }

        Assert.Contains(live.Current, s => s.Name == "portal-lab"); // the subscription saw it without asking
        Assert.Equal("NameInUse", (await Assert.ThrowsAsync<AgentException>(() => client.CreateSwitchAsync(new SwitchCreateSpec { Name = "portal-lab" }, CancellationToken.None))).Code);
        var overlap = await Assert.ThrowsAsync<AgentException>(() => client.CreateSwitchAsync(new SwitchCreateSpec { Name = "portal-lab2", Subnet = nat.Subnet }, CancellationToken.None));
        Assert.Equal("SubnetOverlap", overlap.Code);
        Assert.Contains("choose another subnet", overlap.Message);

        var container = await client.CreateContainerAsync(new ContainerCreateSpec { Name = "on-lab", Image = "busybox", SwitchName = "portal-lab" }, CancellationToken.None);
        Assert.Equal("portal-lab", container.SwitchName);
        Assert.NotNull(container.IpAddress);
        var attached = Assert.Single(await client.ListSwitchesAsync(CancellationToken.None), s => s.Name == "portal-lab");
        Assert.Equal(container.IpAddress, Assert.Single(attached.Containers).IpAddress);
        Assert.Equal("SwitchInUse", (await Assert.ThrowsAsync<AgentException>(() => client.RemoveSwitchAsync("portal-lab", CancellationToken.None))).Code);

        await client.RemoveContainerAsync(container.Id, force: true, CancellationToken.None);
        await client.RemoveSwitchAsync("portal-lab", CancellationToken.None);
        Assert.DoesNotContain(await client.ListSwitchesAsync(CancellationToken.None), s => s.Name == "portal-lab");
    }

    [RootFact]
    public async Task The_live_host_reconnects_after_the_agent_restarts_and_takes_a_fresh_snapshot()
    {
        var options = new PortalOptions { ReconnectInitialDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(1), StatisticsInterval = TimeSpan.FromSeconds(1) };
        var registration = new RegisteredHost("h1", "local", AgentEndpoint.Socket(_agent.SocketPath), DateTimeOffset.UtcNow);
        await using var host = new AgentHost(registration, new AgentClientFactory(), options, TimeProvider.System, NullLogger.Instance);
        host.Start();
        await Until(() => host.State == HostConnectionState.Connected && host.Info is not null);

        await _agent.KillAsync();
        await Until(() => host.State == HostConnectionState.Reconnecting && host.LastError is not null);

        // Made while the portal could not see: the fresh snapshot after the reconnect must hold it.
        await _agent.StartAsync();
        await _agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "made-meanwhile", Image = "busybox" });
        await Until(() => host.State == HostConnectionState.Connected && host.Containers.Values.Any(v => v.Container.Name == "made-meanwhile"));
    }

    private static async Task UntilAsync(IAsyncEnumerator<ChangeBatch<ContainerView>> batches, Func<ChangeBatch<ContainerView>, bool> done)
    {
        while (await batches.MoveNextAsync())
        {
            if (done(batches.Current))
            {
                return;
            }
        }

        throw new InvalidOperationException("The subscription ended before the change arrived.");
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not hold within 90 s.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>A one-file root filesystem tar: the simplest archive the image store imports.</summary>
    private static byte[] RootfsArchive()
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "etc/") { Mode = (UnixFileMode)0b111_101_101 });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "etc/motd") { DataStream = new MemoryStream(new byte[100_000]), Mode = (UnixFileMode)0b110_100_100 });
        }

        return buffer.ToArray();
    }

    /// <summary>Progress without a synchronization context hop, so the last report is in before the call returns.</summary>
}
