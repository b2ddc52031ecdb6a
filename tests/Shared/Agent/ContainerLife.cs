using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Tests.Shared;

/// <summary>
/// A container's whole life through the agent's REST API (create, start, stop, start, convert with restart, stop,
/// remove), for crash injection: it passes every crash point of Portal.Compute.CrashPoints once, and what is left after
/// the agent died on the way is checked by <see cref="SettleAsync"/>.
/// </summary>
public static class ContainerLife
{
    public static async Task RunAsync(AgentProcess agent, string name, RuntimeType runtime)
    {
        await agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = name, Image = "busybox", Command = ["sh", "-c", "exec sleep 600"], RuntimeType = runtime });
        await agent.PostAsync<ContainerInfo>($"api/containers/{name}/start");
        await agent.PostAsync<ContainerInfo>($"api/containers/{name}/stop?timeout=2");
        await agent.PostAsync<ContainerInfo>($"api/containers/{name}/start");
        await agent.PostAsync<ContainerInfo>($"api/containers/{name}/convert?runtimeType={(runtime == RuntimeType.HyperV ? RuntimeType.Default : RuntimeType.HyperV)}&restart=true");
        await agent.PostAsync<ContainerInfo>($"api/containers/{name}/stop?timeout=2");
        await DeleteAsync(agent, name);
    }

    /// <summary>Runs <see cref="RunAsync"/>; true when the agent died on the way (HTTP failed and the process is gone).</summary>
    public static Task<bool> DiesDuringAsync(AgentProcess agent, string name, RuntimeType runtime) =>
        DiesDuringAsync(agent, () => RunAsync(agent, name, runtime));

    /// <summary>Runs <paramref name="steps"/>; true when the agent died under them (a crash point or a kill), false when they finished.</summary>
    public static async Task<bool> DiesDuringAsync(AgentProcess agent, Func<Task> steps)
    {
        try
        {
            await steps();
            return false;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            for (var i = 0; i < 200 && !agent.HasExited; i++)
            {
                await Task.Delay(50);
            }

            if (!agent.HasExited)
            {
                throw;
            }

            return true;
        }
    }

    /// <summary>
    /// After a restart: "gone", or the container's state and isolation once it proved usable (a running one runs a
    /// command) and was removed; a line starting with UNUSABLE otherwise.
    /// </summary>
    public static async Task<string> SettleAsync(AgentProcess agent, string name)
    {
        var found = (await agent.GetAsync<List<ContainerView>>("api/containers")).Select(v => v.Container).SingleOrDefault(c => c.Name == name);
        if (found is null)
        {
            return "gone";
        }

        try
        {
            if (found.State == ContainerState.Running)
            {
                var exec = await agent.PostAsync<ExecOutcome>($"api/containers/{name}/exec", new { command = new[] { "true" } });
                if (exec.ExitCode != 0)
                {
                    return $"UNUSABLE: {found.State}, exec exited {exec.ExitCode}";
                }
            }

            await DeleteAsync(agent, name);
            return $"{found.State} ({found.RuntimeType}), usable, removed";
        }
        catch (HttpRequestException e)
        {
            return $"UNUSABLE: {found.State} ({found.RuntimeType}): {e.Message}";
        }
    }

    private static async Task DeleteAsync(AgentProcess agent, string name)
    {
        using var response = await agent.Socket.DeleteAsync($"api/containers/{name}?force=true");
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"remove {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private sealed record ExecOutcome(int ExitCode);
}
