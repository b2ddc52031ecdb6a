using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;
using Portal.Contracts;
using Portal.Web.Audit;
using Portal.Web.Tests.Fakes;
using AuditPage = Portal.Web.Components.Pages.Audit;

namespace Portal.Web.Tests.Audit;

/// <summary>The Audit page against a fake source: the table, the filters, live entries and the export links.</summary>
public sealed class AuditPageTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private readonly BunitContext _ctx = new();
    private readonly FakeAuditSource _source = new();

    public AuditPageTests()
    {
        _ctx.JSInterop.Mode = JSRuntimeMode.Loose;
        BunitContext.DefaultWaitTimeout = TimeSpan.FromSeconds(10);
        _ctx.Services.AddMudServices();
        _ctx.Services.AddSingleton<IAuditSource>(_source);
        _ctx.AddAuthorization().SetAuthorized("admin");
        _source.Rows.Add(FakeAuditSource.Row("alpha", 1, T0, "container.create", user: "alice", team: "blue"));
        _source.Rows.Add(FakeAuditSource.Row("beta", 1, T0.AddMinutes(1), "container.create", user: "bob", team: "red", decision: AuditDecision.Denied,
            rule: "isolation", reason: "Team red allows HyperV only."));
        _source.Rows.Add(FakeAuditSource.Row("alpha", 2, T0.AddMinutes(2), "container.remove", user: "alice", team: "blue", decision: AuditDecision.Warned,
            rule: "quota", reason: "Over the soft limit."));
        _source.Rows.Add(FakeAuditSource.Row(AuditRow.PortalSource, 1, T0.AddMinutes(3), "auth.sign-in", actor: "alice", user: "alice", targetName: "alice"));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _ctx.DisposeAsync();

    [Fact]
    public void Lists_every_source_newest_first_with_decisions_coloured_and_names_the_hosts_not_read()
    {
        _source.Missing.Add(new MissingHost("gamma", "not connected: connection refused"));

        var page = _ctx.Render<AuditPage>();

        page.WaitForAssertion(() => Assert.Equal(["portal#1", "host:alpha#2", "host:beta#1", "host:alpha#1"], Keys(page)));
        var denied = page.Find("tr[data-key='host:beta#1']");
        Assert.Contains("2026-12-03 12:01:00", denied.TextContent);
        Assert.Contains("bob", denied.TextContent);
        Assert.Contains("red", denied.TextContent);
        Assert.Contains("container.create", denied.TextContent);
        Assert.Contains("HyperV → -", denied.TextContent);
        Assert.Contains("isolation: Team red allows HyperV only.", denied.TextContent);
        Assert.Contains("NotRun", denied.TextContent);
        Assert.Contains("mud-chip-color-error", denied.QuerySelector(".audit-decision-chip")!.ClassName);
        Assert.Contains("mud-chip-color-warning", page.Find("tr[data-key='host:alpha#2'] .audit-decision-chip").ClassName);
        Assert.Contains("mud-chip-color-success", page.Find("tr[data-key='host:alpha#1'] .audit-decision-chip").ClassName);
        foreach (var id in new[] { "input#audit-user", "input#audit-team", "input#audit-action", "input#audit-since", "input#audit-until", "#audit-host .mud-select", "#audit-decision .mud-select",
            "button#audit-apply", "button#audit-clear", "a#audit-export-csv", "a#audit-export-json", "#audit-table", "#audit-live" })
        {
            Assert.NotNull(page.Find(id)); // stable ids for the browser tests
        }

        Assert.Contains("gamma", page.Find("#audit-missing").TextContent);
        Assert.Contains("connection refused", page.Find("#audit-missing").TextContent);
    }

    [Fact]
    public async Task Filters_by_user_team_host_action_decision_and_time_and_the_export_links_carry_them()
    {
        var page = _ctx.Render<AuditPage>();
        page.WaitForAssertion(() => Assert.Equal(4, Keys(page).Count));

        Field(page, "User").Change("ALI");
        Field(page, "Team").Change("blue");
        await Select(page, "Host").InvokeAsync(() => Select(page, "Host").Instance.ValueChanged.InvokeAsync("alpha"));
        Field(page, "Action").Change("remove");
        await Select(page, "Decision").InvokeAsync(() => Select(page, "Decision").Instance.ValueChanged.InvokeAsync("Warned"));
        Field(page, "Since (UTC)").Change("2026-12-03 12:00");
        Field(page, "Until (UTC)").Change("2026-12-03T12:30:00Z");
        await page.Find("form#audit-filters").SubmitAsync();

        page.WaitForAssertion(() => Assert.Equal(["host:alpha#2"], Keys(page)));
        var search = _source.Searches.Last();
        Assert.Equal(("ALI", "blue", "alpha", "remove", AuditDecision.Warned), (search.User, search.Team, search.Host, search.Action, search.Decision));
        Assert.Equal((T0, T0.AddMinutes(30)), (search.Since!.Value, search.Until!.Value));
        Assert.Equal("/audit/export?format=csv&user=ALI&team=blue&host=alpha&action=remove&decision=Warned&since=2026-12-03T12%3A00%3A00.0000000Z&until=2026-12-03T12%3A30%3A00.0000000Z",
            page.Find("#audit-export-csv").GetAttribute("href"));
        Assert.StartsWith("/audit/export?format=json&user=ALI", page.Find("#audit-export-json").GetAttribute("href"), StringComparison.Ordinal);
        Assert.True(page.Find("#audit-export-csv").HasAttribute("download"));

        await page.Find("#audit-clear").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Equal(4, Keys(page).Count));
        Assert.Equal("/audit/export?format=csv", page.Find("#audit-export-csv").GetAttribute("href"));
    }

    [Fact]
    public async Task Choosing_a_host_or_decision_applies_at_once()
    {
        var page = _ctx.Render<AuditPage>();
        page.WaitForAssertion(() => Assert.Equal(4, Keys(page).Count));

        await Select(page, "Decision").InvokeAsync(() => Select(page, "Decision").Instance.ValueChanged.InvokeAsync("Denied"));
        page.WaitForAssertion(() => Assert.Equal(["host:beta#1"], Keys(page)));
        await Select(page, "Decision").InvokeAsync(() => Select(page, "Decision").Instance.ValueChanged.InvokeAsync(""));
        await Select(page, "Host").InvokeAsync(() => Select(page, "Host").Instance.ValueChanged.InvokeAsync(AuditRow.PortalSource));
        page.WaitForAssertion(() => Assert.Equal(["portal#1"], Keys(page)));
    }

    [Fact]
    public async Task A_bad_time_or_range_is_refused_with_what_to_write()
    {
        var page = _ctx.Render<AuditPage>();
        page.WaitForAssertion(() => Assert.Equal(4, Keys(page).Count));
        var searches = _source.Searches.Count;

        Field(page, "Since (UTC)").Change("yesterday");
        await page.Find("form#audit-filters").SubmitAsync();
        page.WaitForAssertion(() => Assert.Contains("'yesterday' in 'Since (UTC)' is not a time: write it in UTC as 2026-12-03 14:00", page.Find("#audit-error").TextContent));

        Field(page, "Since (UTC)").Change("2026-12-04");
        Field(page, "Until (UTC)").Change("2026-12-03");
        await page.Find("form#audit-filters").SubmitAsync();
        page.WaitForAssertion(() => Assert.Contains("swap them", page.Find("#audit-error").TextContent));
        Assert.Equal(searches, _source.Searches.Count);
    }

    [Fact]
    public async Task A_new_entry_that_matches_the_filters_appears_at_the_top_without_reloading()
    {
        var page = _ctx.Render<AuditPage>();
        page.WaitForAssertion(() => Assert.Equal(4, Keys(page).Count));
        Field(page, "Team").Change("red");
        await page.Find("form#audit-filters").SubmitAsync();
        page.WaitForAssertion(() => Assert.Equal(["host:beta#1"], Keys(page)));
        var searches = _source.Searches.Count;

        _source.Push(FakeAuditSource.Row("alpha", 3, T0.AddMinutes(5), "container.start", team: "blue")); // another team: not shown
        var quota = FakeAuditSource.Row("beta", 2, T0.AddMinutes(6), "container.create", user: "bob", team: "red", decision: AuditDecision.Denied,
            rule: "quota", reason: "containers: limit 2, in use 2.");
        _source.Push(quota);
        _source.Push(quota); // a stream resumed after a drop may repeat one: listed once

        page.WaitForAssertion(() => Assert.Equal(["host:beta#2", "host:beta#1"], Keys(page)));
        Assert.Contains("quota: containers: limit 2, in use 2.", page.Find("tr[data-key='host:beta#2']").TextContent);
        Assert.Equal(searches, _source.Searches.Count);

        await _ctx.DisposeComponentsAsync();
        Assert.Equal(0, _source.Listeners);
    }

    private static List<string> Keys(IRenderedComponent<AuditPage> page) =>
        [.. page.FindAll("tr.audit-row").Select(r => r.GetAttribute("data-key")!)];

    private static AngleSharp.Dom.IElement Field(IRenderedComponent<AuditPage> page, string label)
    {
        var labelElement = page.FindAll("label").First(l => l.TextContent.Trim() == label);
        return labelElement.ParentElement!.QuerySelector("input")!;
    }

    private static IRenderedComponent<MudSelect<string>> Select(IRenderedComponent<AuditPage> page, string label) =>
        page.FindComponents<MudSelect<string>>().Single(s => s.Instance.Label == label);
}
