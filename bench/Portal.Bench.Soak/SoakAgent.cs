using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Agent;
using Portal.Contracts.Hub;

namespace Portal.Bench.Soak;

/// <summary>The soak's view of the agent: its REST calls on the local socket, and a restart after a kill.</summary>
public sealed class SoakAgent(AgentProcess agent)
{
    public AgentProcess Process => agent;

    public async Task<ContainerInfo> CreateAsync(string name, RuntimeType runtime, string script) =>
        await agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = name, Image = "busybox", Command = ["sh", "-c", script], RuntimeType = runtime });

    public Task<ContainerInfo> StartAsync(string name) => agent.PostAsync<ContainerInfo>($"api/containers/{name}/start");

    public Task<ContainerInfo> StopAsync(string name) => agent.PostAsync<ContainerInfo>($"api/containers/{name}/stop?timeout=2");

    public Task<ContainerInfo> ConvertAsync(string name, RuntimeType target) => agent.PostAsync<ContainerInfo>($"api/containers/{name}/convert?runtimeType={target}&restart=true");

    public Task<ContainerInfo> WaitAsync(string name) => agent.PostAsync<ContainerInfo>($"api/containers/{name}/wait");

    public async Task RemoveAsync(string name)
    {
        using var response = await agent.Socket.DeleteAsync($"api/containers/{name}?force=true");
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"remove {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<int> ExecAsync(string name, params string[] command) =>
        (await agent.PostAsync<ExecResult>($"api/containers/{name}/exec", new { command })).ExitCode;

    public async Task<IReadOnlyList<ContainerInfo>> ListAsync() =>
        (await agent.GetAsync<List<ContainerView>>("api/containers")).Select(v => v.Container).ToList();

    public Task<string> LogsAsync(string name) => agent.Socket.GetStringAsync($"api/containers/{name}/logs");

    /// <summary>SIGKILL, then a fresh start on the same state; <paramref name="crashAt"/> arms a crash point for that start.</summary>
    public async Task RestartAsync(string? crashAt = null)
    {
        await agent.KillAsync();
        if (crashAt is null)
        {
            agent.Environment.Remove(Portal.Compute.CrashPoints.Variable);
        }
        else
        {
            agent.Environment[Portal.Compute.CrashPoints.Variable] = crashAt;
        }

        await agent.StartAsync();
    }
}
