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
}
