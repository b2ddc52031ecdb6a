using Portal.Tests.Shared;

namespace Portal.PowerShell.Tests;

/// <summary>One real agent on private state for the collection; everything it made is removed afterwards, even on failure.</summary>
public sealed class AgentFixture : IAsyncLifetime
{
    public TestSandbox Sandbox { get; } = new("portal-pstest");

    public AgentProcess Agent { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        TestSandbox.RequireRoot();
        Agent = new AgentProcess(Sandbox);
        try
        {
            await Agent.StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
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

[CollectionDefinition(Name)]
public sealed class AgentCollection : ICollectionFixture<AgentFixture>
{
    public const string Name = "agent";
}
