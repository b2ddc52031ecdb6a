using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

/// <summary>
/// A test class's own real agent on private state, started before each of its tests and cleaned up after them. Its
/// tests are [RootFact]s: xunit constructs the class only for tests that run, so without root nothing starts.
/// </summary>
public abstract class RunningAgent : IAsyncLifetime
{
    protected TestSandbox Sandbox { get; } = new();

    protected AgentProcess Agent { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Agent = new AgentProcess(Sandbox);
        await Agent.StartAsync();
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Agent.DisposeAsync();
        }
        finally
        {
            Sandbox.Clean();
        }
    }

    /// <summary>An API key made with an administrator's client (POST /api/keys).</summary>
    protected static async Task<ApiKeyCreated> CreateKeyAsync(HttpClient admin, ApiKeyRequest request)
    {
        var response = await admin.PostAsJsonAsync("api/keys", request, AgentProcess.Json);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json))!;
    }

    /// <summary>A hub connection over TCP authorized by <paramref name="key"/>.</summary>
    protected async Task<HubConnection> HubAsync(string key, CancellationToken ct)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(Agent.Tcp.BaseAddress!, "hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(key))
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
            .Build();
        await connection.StartAsync(ct);
        return connection;
    }
}
