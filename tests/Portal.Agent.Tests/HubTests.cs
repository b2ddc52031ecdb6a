using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

/// <summary>The typed hub against the real agent on 127.0.0.1: snapshot plus changes, commands as data, exec both ways, auth.</summary>
[Trait("Requires", "root")]
public sealed class HubTests : RunningAgent
{
    private HubConnection Connect(string? key) => new HubConnectionBuilder()
        .WithUrl(new Uri(Agent.Tcp.BaseAddress!, "hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult(key))
        .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
        .Build();

    [RootFact]
    public async Task Subscribers_get_a_snapshot_then_the_changes_with_commands_as_data()
    {
        await using var hub = Connect(Agent.AdminKey);
        await hub.StartAsync();
        await hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), new ContainerCreateSpec { Name = "before", Image = "busybox", Command = ["sleep", "300"] });

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var batches = hub.StreamAsync<ChangeBatch<ContainerView>>(nameof(IAgentHub.SubscribeContainers), cts.Token).GetAsyncEnumerator(cts.Token);
        var events = hub.StreamAsync<ContainerEvent>(nameof(IAgentHub.SubscribeEvents), cts.Token).GetAsyncEnumerator(cts.Token);
        // Events have no snapshot: once a marker's event arrives, the subscription is live.
        var firstEvent = events.MoveNextAsync().AsTask();
        while (!firstEvent.IsCompleted)
        {
            await hub.InvokeAsync(nameof(IAgentHub.RemoveContainer), (await hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), new ContainerCreateSpec { Image = "busybox" })).Id, false);
            await Task.WhenAny(firstEvent, Task.Delay(200));
        }

        Assert.True(await firstEvent);

        Assert.True(await batches.MoveNextAsync());
        Assert.True(batches.Current.IsSnapshot);
        var before = batches.Current.Changes.Single(c => c.Item!.Container.Name == "before").Item!;
        Assert.Equal("before", before.Container.Name);
        Assert.True(before.Commands.Single(c => c.Name == "start").Enabled);
        var exec = before.Commands.Single(c => c.Name == "exec");
        Assert.False(exec.Enabled);
        Assert.Contains("not running", exec.DisabledReason);

        var started = await hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.StartContainer), "before");
        Assert.Equal(ContainerState.Running, started.State);
        var running = await NextChangeAsync(batches, c => c.Item?.Container.State == ContainerState.Running);
        Assert.True(running.Item!.Commands.Single(c => c.Name == "exec").Enabled);
        Assert.False(running.Item.Commands.Single(c => c.Name == "start").Enabled);
        Assert.True(running.Item.Commands.Single(c => c.Name == "remove").RequiresConfirmation);

        await hub.InvokeAsync(nameof(IAgentHub.RemoveContainer), "before", true);
        var removed = await NextChangeAsync(batches, c => c.Kind == ChangeKind.Delete);
        Assert.Equal(started.Id, removed.Key);

        var kinds = new List<ContainerEventKind>();
        while (!kinds.Contains(ContainerEventKind.Removed) && await events.MoveNextAsync())
        {
            if (events.Current.Container.Name == "before")
            {
                kinds.Add(events.Current.Kind);
            }
        }

        Assert.Equal([ContainerEventKind.Started, ContainerEventKind.Stopping, ContainerEventKind.Stopped, ContainerEventKind.Removed], kinds);
    }

    [RootFact]
    public async Task Exec_streams_both_ways_with_a_terminal()
    {
        await using var hub = Connect(Agent.AdminKey);
        await hub.StartAsync();
        await hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), new ContainerCreateSpec { Name = "shell", Image = "busybox", Command = ["sleep", "300"] });
        await hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.StartContainer), "shell");

        var input = System.Threading.Channels.Channel.CreateUnbounded<ProcessInput>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = hub.StreamAsync<ProcessOutput>(nameof(IAgentHub.Exec), "shell", new ExecStart { Command = ["sh"], Tty = true, Stdin = true, Columns = 90, Rows = 20 }, input.Reader.ReadAllAsync(), cts.Token);
        await input.Writer.WriteAsync(new ProcessInput { Data = Encoding.UTF8.GetBytes("stty size; exit 3\n") });
        var text = new StringBuilder();
        int? exitCode = null;
        await foreach (var item in output)
        {
            if (item.Data is { } data)
            {
                text.Append(Encoding.UTF8.GetString(data));
            }

            exitCode = item.ExitCode ?? exitCode;
        }

        Assert.Contains("20 90", text.ToString());
        Assert.Equal(3, exitCode);

        var systems = hub.StreamAsync<ChangeBatch<ComputeSystemInfo>>(nameof(IAgentHub.SubscribeComputeSystems), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await systems.MoveNextAsync());
        var system = Assert.Single(systems.Current.Changes).Item!;
        Assert.Equal(ComputeSystemType.Container, system.Type);
        Assert.NotNull(system.HostPid);

        var processes = hub.StreamAsync<IsolationView>(nameof(IAgentHub.SubscribeProcesses), "shell", cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await processes.MoveNextAsync());
        Assert.Contains(processes.Current.Inside, p => p.CommandLine == "sleep 300");
        Assert.Contains(processes.Current.SeenFromHost, p => p.CommandLine == "sleep 300" && p.ContainerPid == 1);
        await hub.InvokeAsync(nameof(IAgentHub.RemoveContainer), "shell", true);
    }

    [RootFact]
    public async Task The_hub_needs_a_key_and_enforces_its_scope()
    {
        await using var anonymous = Connect(null);
        await Assert.ThrowsAnyAsync<Exception>(() => anonymous.StartAsync());

        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(admin, "api/keys", new ApiKeyRequest("viewer", ApiScope.Read), AgentProcess.Json);
        var reader = await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<ApiKeyCreated>(response.Content, AgentProcess.Json);
        await using var hub = Connect(reader!.Secret);
        await hub.StartAsync();
        var error = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.CreateContainer), new ContainerCreateSpec { Image = "busybox" }));
        Assert.Contains("unauthorized", error.Message, StringComparison.OrdinalIgnoreCase);

        await using var operatorHub = Connect(Agent.AdminKey);
        await operatorHub.StartAsync();
        var missing = await Assert.ThrowsAsync<HubException>(() => operatorHub.InvokeAsync<ContainerInfo>(nameof(IAgentHub.StartContainer), "no-such-container"));
        Assert.Contains("ContainerNotFound", missing.Message);
    }

    [RootTheory]
    [InlineData("revoke")]
    [InlineData("rotate")]
    public async Task A_revoked_or_rotated_key_loses_its_open_hub_connections_and_their_streams(string change)
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(admin, "api/keys", new ApiKeyRequest("dashboard", ApiScope.Read), AgentProcess.Json);
        var reader = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<ApiKeyCreated>(response.Content, AgentProcess.Json))!;
        await using var hub = Connect(reader.Secret);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += e =>
        {
            closed.TrySetResult(e);
            return Task.CompletedTask;
        };
        await hub.StartAsync();
        // The admin's own connection stays open: only the changed key's connections close.
        await using var adminHub = Connect(Agent.AdminKey);
        await adminHub.StartAsync();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var batches = hub.StreamAsync<ChangeBatch<ContainerView>>(nameof(IAgentHub.SubscribeContainers), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await batches.MoveNextAsync());
        Assert.True(batches.Current.IsSnapshot);
        var pending = batches.MoveNextAsync().AsTask(); // a stream in progress, waiting for the next change

        var changed = change == "revoke" ? await admin.DeleteAsync($"api/keys/{reader.Key.Id}") : await admin.PostAsync($"api/keys/{reader.Key.Id}/rotate", null);
        changed.EnsureSuccessStatusCode();

        // Closed within seconds (the bound is generous for a loaded machine; it is immediate in practice).
        Assert.Same(closed.Task, await Task.WhenAny(closed.Task, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.Equal(HubConnectionState.Disconnected, hub.State);
        var ended = await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.Same(pending, ended);
        Assert.True(pending.IsFaulted || pending.IsCanceled || !pending.Result, "the stream went on after its key was " + change + "d");

        // The old secret cannot open a new connection; the admin's connection still works.
        await using var again = Connect(reader.Secret);
        await Assert.ThrowsAnyAsync<Exception>(() => again.StartAsync());
        Assert.Equal(HubConnectionState.Connected, adminHub.State);
        Assert.NotNull(await adminHub.InvokeAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches)));
    }

    private static async Task<Change<ContainerView>> NextChangeAsync(IAsyncEnumerator<ChangeBatch<ContainerView>> batches, Func<Change<ContainerView>, bool> match)
    {
        while (await batches.MoveNextAsync())
        {
            if (batches.Current.Changes.FirstOrDefault(match) is { } change)
            {
                return change;
            }
        }

        throw new InvalidOperationException("The subscription ended before the change arrived.");
    }
}
