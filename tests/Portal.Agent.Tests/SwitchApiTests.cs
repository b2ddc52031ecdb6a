using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests;

/// <summary>Virtual switches over REST and the hub against the real agent: the default NAT switch, create, list, remove, errors. Needs root.</summary>
[Trait("Requires", "root")]
public sealed class SwitchApiTests : RunningAgent
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    [RootFact]
    public async Task Switches_are_listed_created_and_removed_over_REST_and_the_hub_with_clear_errors()
    {
        using var http = Agent.TcpWithKey(Agent.AdminKey!);
        var initial = await http.GetFromJsonAsync<SwitchInfo[]>("api/switches", Json);
        Assert.Contains(initial!, s => s.Name == "NAT" && s.IsDefault && s.Type == SwitchType.Nat && s.Aliases.Contains("Virtual Switch"));
        Assert.Contains(initial!, s => s.Name == "none" && s.IsBuiltIn);

        var created = await http.PostAsJsonAsync("api/switches", new SwitchCreateSpec { Name = "isolated", Type = SwitchType.Private }, Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var isolated = (await created.Content.ReadFromJsonAsync<SwitchInfo>(Json))!;
        Assert.Null(isolated.Gateway); // the host has no address on a Private switch

        var overlap = await http.PostAsJsonAsync("api/switches", new SwitchCreateSpec { Name = "clash", Subnet = isolated.Subnet }, Json);
        Assert.Equal(HttpStatusCode.Conflict, overlap.StatusCode);
        Assert.Contains("SubnetOverlap", await overlap.Content.ReadAsStringAsync());

        var container = await http.PostAsJsonAsync("api/containers", new ContainerCreateSpec { Name = "member", Image = "busybox", SwitchName = "isolated" }, Json);
        Assert.Equal(HttpStatusCode.Created, container.StatusCode);
        var member = (await container.Content.ReadFromJsonAsync<ContainerInfo>(Json))!;
        Assert.Equal("isolated", member.SwitchName);
        Assert.NotNull(member.IpAddress);

        await using var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(Agent.Tcp.BaseAddress!, "hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult(Agent.AdminKey))
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
        await hub.StartAsync();
        var listed = await hub.InvokeAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.ListSwitches));
        Assert.Equal(member.IpAddress, listed.Single(s => s.Name == "isolated").Containers.Single().IpAddress);
        var inUse = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => hub.InvokeAsync(nameof(IAgentHub.RemoveSwitch), "isolated"));
        Assert.Contains("SwitchInUse: Switch 'isolated' is used by 1 container(s) (member)", inUse.Message);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var feed = hub.StreamAsync<IReadOnlyList<SwitchInfo>>(nameof(IAgentHub.SubscribeSwitches), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await feed.MoveNextAsync());
        Assert.Contains(feed.Current, s => s.Name == "isolated");
        await hub.InvokeAsync<SwitchInfo>(nameof(IAgentHub.CreateSwitch), new SwitchCreateSpec { Name = "lan", Type = SwitchType.Internal });
        Assert.True(await feed.MoveNextAsync());
        Assert.Contains(feed.Current, s => s.Name == "lan" && s.Type == SwitchType.Internal && s.Gateway is not null);

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("api/containers/member")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("api/switches/isolated")).StatusCode);
        await hub.InvokeAsync(nameof(IAgentHub.RemoveSwitch), "lan");
        var missing = await http.GetAsync("api/switches/isolated");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("SwitchNotFound", await missing.Content.ReadAsStringAsync());

        using var reader = Agent.TcpWithKey(await ReadKeyAsync(http));
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PostAsJsonAsync("api/switches", new SwitchCreateSpec { Name = "nope" }, Json)).StatusCode);
    }

    private static async Task<string> ReadKeyAsync(HttpClient admin)
    {
        var response = await admin.PostAsJsonAsync("api/keys", new ApiKeyRequest("reader", ApiScope.Read), Json);
        return (await response.Content.ReadFromJsonAsync<ApiKeyCreated>(Json))!.Secret;
    }
}
