using AngleSharp.Dom;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Components.Controls;
using Portal.Web.Components.Pages;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

public sealed class ContainersPageTests : PortalTest
{
    [Fact]
    public async Task Grid_shows_containers_of_every_host()
    {
        await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running), Views.View("db", ContainerState.Stopped));
        await Ctx.AddHostAsync("beta", Views.View("vm1", ContainerState.Running, RuntimeType.HyperV));
        Ctx.RenderProviders();

        var page = Ctx.Render<Containers>();

        page.WaitForAssertion(() =>
        {
            var rows = page.FindAll("tr.container-row");
            Assert.Equal(3, rows.Count);
            Assert.Contains(rows, r => r.TextContent.Contains("vm1") && r.TextContent.Contains("beta") && r.TextContent.Contains("VM"));
            Assert.Contains(rows, r => r.TextContent.Contains("db") && r.TextContent.Contains("Stopped"));
        });
    }

    [Fact]
    public async Task Grid_follows_changes_without_reloading()
    {
        var web = Views.View("web", ContainerState.Running);
        var agent = await Ctx.AddHostAsync("alpha", web);
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        agent.Push(Views.Upsert(Views.View("worker", ContainerState.Created), Views.View(web.Container with { State = ContainerState.Stopped, ExitCode = 137 })));
        page.WaitForAssertion(() =>
        {
            Assert.Equal(2, page.FindAll("tr.container-row").Count);
            Assert.Contains("Stopped (137)", page.Markup);
        });

        agent.Push(Views.Delete(web));
        page.WaitForAssertion(() => Assert.Contains("worker", Assert.Single(page.FindAll("tr.container-row")).TextContent));
    }

    // The page re-renders whenever live data arrives: an element is found and acted on in one turn of the renderer's
    // dispatcher (InvokeAsync), or its event handler may be gone by the click (bUnit's UnknownEventHandlerIdException,
    // seen under load).
    [Fact]
    public async Task A_column_header_sorts_the_grid_and_says_how()
    {
        await Ctx.AddHostAsync("alpha", Views.View("b-web", ContainerState.Running), Views.View("a-db", ContainerState.Stopped), Views.View("c-vm", ContainerState.Running, RuntimeType.HyperV));
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        string[] Names() => [.. page.FindAll("tr.container-row").Select(r => r.GetAttribute("data-container")!)];
        page.WaitForAssertion(() => Assert.Equal(["a-db", "b-web", "c-vm"], Names()));
        Assert.Equal("ascending", page.Find("th:has(button[aria-label='Sort by Name'])").GetAttribute("aria-sort"));

        await page.InvokeAsync(() => page.Find("button[aria-label='Sort by Name']").Click());
        page.WaitForAssertion(() => Assert.Equal(["c-vm", "b-web", "a-db"], Names()));
        Assert.Equal("descending", page.Find("th:has(button[aria-label='Sort by Name'])").GetAttribute("aria-sort"));

        await page.InvokeAsync(() => page.Find("button[aria-label='Sort by State']").Click());
        page.WaitForAssertion(() => Assert.Equal(["b-web", "c-vm", "a-db"], Names()));
        Assert.Equal("none", page.Find("th:has(button[aria-label='Sort by Name'])").GetAttribute("aria-sort"));
    }

    [Fact]
    public async Task A_change_to_one_container_renders_only_its_row()
    {
        var web = Views.View("web", ContainerState.Running);
        var agent = await Ctx.AddHostAsync("alpha", web, Views.View("db", ContainerState.Stopped), Views.View("cache", ContainerState.Stopped));
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("tr.container-row").Count));
        var counts = page.FindComponents<ContainerGridRow>().ToDictionary(r => r.Instance.Row.Container.Name, r => r.RenderCount);

        agent.Push(Views.Upsert(Views.View(web.Container with { State = ContainerState.Stopped, ExitCode = 0, StartedAt = null })));
        page.WaitForAssertion(() => Assert.Contains("Stopped", page.Find("tr[data-container=web]").TextContent));

        var rows = page.FindComponents<ContainerGridRow>().ToDictionary(r => r.Instance.Row.Container.Name, r => r.RenderCount);
        Assert.True(rows["web"] > counts["web"]);
        Assert.Equal(counts["db"], rows["db"]);
        Assert.Equal(counts["cache"], rows["cache"]);
    }

    [Fact]
    public async Task Search_narrows_the_grid_by_name_image_or_host()
    {
        await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running), Views.View("db", ContainerState.Stopped));
        await Ctx.AddHostAsync("beta", Views.View("cache", ContainerState.Running));
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("tr.container-row").Count));

        await page.InvokeAsync(() => page.Find("input[type=text]").Input("beta"));
        page.WaitForAssertion(() => Assert.Contains("cache", Assert.Single(page.FindAll("tr.container-row")).TextContent));

        await page.InvokeAsync(() => page.Find("input[type=text]").Input("nothing-like-this"));
        page.WaitForAssertion(() => Assert.Contains("No container matches the filter.", page.Markup));
    }

    [Fact]
    public async Task Actions_follow_the_commands_the_agent_advertises()
    {
        await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running));
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        Assert.True(Button(page, "Start web").HasAttribute("disabled"));
        Assert.False(Button(page, "Stop web").HasAttribute("disabled"));
        Assert.All(page.FindAll("tr.container-row button"), b => Assert.False(string.IsNullOrEmpty(b.GetAttribute("aria-label"))));
    }

    [Fact]
    public async Task Stop_runs_at_once_and_shows_the_agents_error()
    {
        var agent = await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running));
        agent.Failures["StopContainer"] = new AgentException("InvalidTransition", "Container 'web' is stopping; wait until it has stopped.");
        var (_, snackbars) = Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        await page.InvokeAsync(() => Button(page, "Stop web").ClickAsync(new()));

        await PortalTestContext.Eventually(() => agent.Calls.Any(c => c.StartsWith("StopContainer web-", StringComparison.Ordinal)));
        snackbars.WaitForAssertion(() => Assert.Contains("Container 'web' is stopping; wait until it has stopped.", snackbars.Markup));
    }

    [Fact]
    public async Task Remove_asks_first_and_does_nothing_when_cancelled()
    {
        var agent = await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running));
        var (dialogs, _) = Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        await page.InvokeAsync(() => { _ = Button(page, "Remove web").ClickAsync(new()); }); // answered when the dialog closes
        dialogs.WaitForAssertion(() => Assert.Contains("removing stops it", dialogs.Markup));
        await dialogs.InvokeAsync(() => dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Cancel").Click());
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("removing stops it", dialogs.Markup));
        Assert.DoesNotContain(agent.Calls, c => c.StartsWith("RemoveContainer", StringComparison.Ordinal));

        await page.InvokeAsync(() => { _ = Button(page, "Remove web").ClickAsync(new()); }); // answered when the dialog closes
        dialogs.WaitForAssertion(() => Assert.Contains("removing stops it", dialogs.Markup));
        await dialogs.InvokeAsync(() => dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Remove").Click());
        await PortalTestContext.Eventually(() => agent.Calls.Any(c => c.StartsWith("RemoveContainer web-", StringComparison.Ordinal) && c.EndsWith("True", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_running_operation_shows_progress_in_its_row()
    {
        var agent = await Ctx.AddHostAsync("alpha", Views.View("vm1", ContainerState.Stopped));
        var gate = agent.Gates["ConvertContainer"] = new TaskCompletionSource();
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));

        await page.InvokeAsync(() => { _ = Button(page, "Convert to HyperV vm1").ClickAsync(new()); });
        page.WaitForAssertion(() => Assert.Matches("Converting vm1-[0-9a-f]+ to HyperV \\(step 1 of 1\\)", page.Find("tr.container-row").TextContent));
        Assert.True(Button(page, "Start vm1").HasAttribute("disabled"));

        gate.SetResult();
        page.WaitForAssertion(() => Assert.DoesNotContain("Converting", page.Find("tr.container-row").TextContent));
        Assert.Contains(agent.Calls, c => c.StartsWith("ConvertContainer vm1-", StringComparison.Ordinal) && c.EndsWith("HyperV False", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_disconnected_host_is_named_with_the_reason()
    {
        Ctx.Clients.Configure = c => c.ConnectError = new AgentException(AgentException.Unreachable, "The agent at http://gone.test:5081 is not reachable: connection refused.");
        await Ctx.Fleet.AddAsync("gone", "http://gone.test:5081", "pk_x", CancellationToken.None);
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();

        page.WaitForAssertion(() =>
        {
            var banner = page.Find(".mud-alert").TextContent;
            Assert.Contains("Host gone is not connected", banner);
            Assert.Contains("connection refused", banner);
        });
    }

    private static IElement Button(IRenderedComponent<Containers> page, string label) =>
        page.FindAll("button").Single(b => b.GetAttribute("aria-label") == label);
}
