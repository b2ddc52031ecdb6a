using Portal.Tests.Shared;

namespace Portal.PowerShell.Tests;

/// <summary>
/// One real agent on private state for the collection; everything it made is removed afterwards, even on failure. xunit
/// creates a collection fixture even when every test in it is skipped, so without root it starts (and cleans) nothing.
/// </summary>
public sealed class AgentFixture : IAsyncLifetime
{
    private AgentProcess? _agent;

    public TestSandbox Sandbox { get; } = new("portal-pstest");

    public AgentProcess Agent => _agent ?? throw new InvalidOperationException($"The agent has not started: {RootOnly.Reason}.");

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _agent = new AgentProcess(Sandbox);
        try
        {
            await _agent.StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            if (_agent is not null)
            {
                await _agent.DisposeAsync();
            }
        }
        finally
        {
            Sandbox.Clean();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AgentCollection : ICollectionFixture<AgentFixture>
{
    public const string Name = "agent";
}
