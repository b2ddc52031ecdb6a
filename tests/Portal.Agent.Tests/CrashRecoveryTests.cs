using Portal.Compute;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

/// <summary>
/// Crash injection (Portal.Compute.CrashPoints): the agent dies at each step of a process-isolated container's life;
/// after a restart the container is gone or usable, and the host holds nothing beyond an idle agent's footprint.
/// bench/run-soak does the same under VM isolation too, and kills the agent at random moments.
/// </summary>
[Trait("Requires", "root")]
public sealed class CrashRecoveryTests
{
    public static TheoryData<string> Points => new(CrashPoints.All);

    [RootTheory]
    [MemberData(nameof(Points))]
    public async Task A_crash_at_any_step_leaves_the_container_usable_or_gone_and_nothing_orphaned(string point)
    {
        var sandbox = new TestSandbox();
        try
        {
            await using var agent = new AgentProcess(sandbox);
            agent.Environment[CrashPoints.Variable] = point;
            await agent.StartAsync();
            var idle = sandbox.Snapshot(agent.Pid);

            Assert.True(await ContainerLife.DiesDuringAsync(agent, "crashing", RuntimeType.Default), $"the agent went through the whole life without reaching {point}");

            agent.Environment.Clear();
            await agent.StartAsync();
            var outcome = await ContainerLife.SettleAsync(agent, "crashing");
            Assert.DoesNotContain("UNUSABLE", outcome, StringComparison.Ordinal);
            Assert.Empty(sandbox.Snapshot(agent.Pid).Except(idle));
        }
        finally
        {
            sandbox.Clean();
        }
    }

    [RootFact]
    public async Task A_stop_under_way_when_the_agent_dies_is_finished_after_the_restart()
    {
        var sandbox = new TestSandbox();
        try
        {
            await using var agent = new AgentProcess(sandbox);
            agent.Environment[CrashPoints.Variable] = CrashPoints.StopSignalled;
            await agent.StartAsync();
            // PID 1 of a container ignores SIGTERM unless it handles it: only the SIGKILL after the grace period stops it.
            await agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "stubborn", Image = "busybox", Command = ["sleep", "600"] });
            await agent.PostAsync<ContainerInfo>("api/containers/stubborn/start");
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => agent.PostAsync<ContainerInfo>("api/containers/stubborn/stop?timeout=1"));

            agent.Environment.Clear();
            await agent.StartAsync();
            var stopped = await agent.PostAsync<ContainerInfo>("api/containers/stubborn/wait");
            Assert.Equal(ContainerState.Stopped, stopped.State);
            Assert.Contains("killed after ignoring SIGTERM", stopped.StopReason, StringComparison.Ordinal);
        }
        finally
        {
            sandbox.Clean();
        }
    }
}
