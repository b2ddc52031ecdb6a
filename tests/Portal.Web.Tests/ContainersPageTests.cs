using Portal.Contracts;
using Portal.Web.Components.Pages;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

public sealed class ContainersPageTests : IAsyncLifetime
{
    private readonly PortalTestContext _ctx = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _ctx.Fleet.DisposeAsync();
        await _ctx.DisposeAsync();
    }

    [Fact]
    public async Task Grid_shows_containers_of_every_host()
    {
        await _ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running), Views.View("db", ContainerState.Stopped));
        await _ctx.AddHostAsync("beta", Views.View("vm1", ContainerState.Running, RuntimeType.HyperV));

        var page = _ctx.Render<Containers>();

        page.WaitForAssertion(() =>
        {
            var rows = page.FindAll("tr.container-row");
            Assert.Equal(3, rows.Count);
            Assert.Contains(rows, r => r.TextContent.Contains("vm1") && r.TextContent.Contains("beta") && r.TextContent.Contains("HyperV (VM)"));
            Assert.Contains(rows, r => r.TextContent.Contains("db") && r.TextContent.Contains("Stopped"));
        });
    }

    [Fact]
    public async Task Grid_follows_changes_without_reloading()
    {
        var web = Views.View("web", ContainerState.Running);
        var agent = await _ctx.AddHostAsync("alpha", web);
        var page = _ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        agent.Push(Views.Upsert(Views.View("worker", ContainerState.Created), Views.View(web.Container with { State = ContainerState.Stopped, ExitCode = 137 })));
        page.WaitForAssertion(() =>
        {
            Assert.Equal(2, page.FindAll("tr.container-row").Count);
            Assert.Contains("Stopped (137)", page.Markup);
        });

        agent.Push(Views.Delete(web));
        await PortalTestContext.Eventually(() => _ctx.Fleet.Hosts[0].Containers.Count == 1);
        page.WaitForAssertion(() =>
        {
            var row = Assert.Single(page.FindAll("tr.container-row"));
            Assert.Contains("worker", row.TextContent);
        });
    }
}
