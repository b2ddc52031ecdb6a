namespace Portal.Web.Tests;

/// <summary>A test class with its own portal test context, disposed (fleet first, so background loops end) after each test.</summary>
public abstract class PortalTest : IAsyncLifetime
{
    protected PortalTestContext Ctx { get; } = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Ctx.Fleet.DisposeAsync();
        await Ctx.DisposeAsync();
    }
}
