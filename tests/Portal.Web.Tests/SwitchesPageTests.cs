using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Extensions;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Components.Dialogs;
using Portal.Web.Components.Pages;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>The switches page and the create dialog's switch and published ports fields against fake agents.</summary>
public sealed class SwitchesPageTests : PortalTest
{
    private static readonly SwitchInfo Lab = Views.Switch("lab", SwitchType.Internal, "10.89.3.0/24", false,
        new SwitchEndpoint { ContainerId = "web-0001", ContainerName = "web", IpAddress = "10.89.3.2", MacAddress = "02:00:00:00:00:01" },
        new SwitchEndpoint { ContainerId = "db-0002", ContainerName = "db", IpAddress = "10.89.3.3", MacAddress = "02:00:00:00:00:02" });

    [Fact]
    public async Task Lists_each_switch_with_its_type_subnet_gateway_aliases_and_containers()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Switches.AddRange(Views.DefaultSwitches());
        agent.Switches.Add(Lab);
        Ctx.RenderProviders();

        var page = Ctx.Render<Switches>();

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("tr.switch-row").Count));
        var nat = page.Find("tr[data-switch=NAT]").TextContent;
        Assert.Contains("NAT", nat);
        Assert.Contains("10.89.0.0/24", nat);
        Assert.Contains("10.89.0.1", nat);
        Assert.Contains("Virtual Switch, Default Switch", nat);
        Assert.Contains("yes", nat);
        var lab = page.Find("tr[data-switch=lab]").TextContent;
        Assert.Contains("Internal", lab);
        Assert.Contains("web", lab);
        Assert.Contains("10.89.3.2", lab);
        Assert.Contains("10.89.3.3", lab);
        Assert.NotNull(page.Find("tr[data-switch=none] button[disabled]"));
        Assert.Contains("Switches", Ctx.Render<Portal.Web.Components.Layout.NavMenu>().Markup);
    }

    [Fact]
    public async Task A_switch_made_elsewhere_appears_without_reloading()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Switches.AddRange(Views.DefaultSwitches());
        Ctx.RenderProviders();
        var page = Ctx.Render<Switches>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("tr.switch-row").Count));

        lock (agent.Switches)
        {
            agent.Switches.Add(Lab); // as `docker network create` or New-VMSwitch on the host would
        }

        agent.NotifySwitches();
        page.WaitForAssertion(() => Assert.Contains("10.89.3.2", page.Find("tr[data-switch=lab]").TextContent));
        Assert.Single(agent.Calls, c => c.StartsWith("SubscribeSwitches", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Create_shows_the_agents_refusal_in_the_dialog_then_creates()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Switches.AddRange(Views.DefaultSwitches());
        agent.Failures["CreateSwitch"] = new AgentException("SubnetOverlap", "Subnet 10.89.0.0/24 overlaps switch 'NAT' (10.89.0.0/24): choose another subnet, or give none to get a free one.");
        var (dialogs, snackbars) = Ctx.RenderProviders();
        var page = Ctx.Render<Switches>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("tr.switch-row").Count));

        _ = page.Find("[data-testid=new-switch]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.NotNull(dialogs.Find("[data-testid=switch-submit]")));
        await dialogs.Find("[data-testid=switch-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Contains("Enter a name for the switch", dialogs.Find("[data-testid=switch-errors]").TextContent));

        Input(dialogs, "Switch name").Change("lab");
        Input(dialogs, "Subnet").Change("10.89.0.0/24");
        await dialogs.Find("[data-testid=switch-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Contains("overlaps switch 'NAT' (10.89.0.0/24): choose another subnet", dialogs.Find("[data-testid=switch-errors]").TextContent));
        Assert.Contains("CreateSwitch lab Nat 10.89.0.0/24", agent.Calls);

        agent.Failures.Clear();
        Input(dialogs, "Subnet").Change("10.89.5.0/24");
        await dialogs.Find("[data-testid=switch-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=switch-submit]")));
        page.WaitForAssertion(() => Assert.Contains("10.89.5.0/24", page.Find("tr[data-switch=lab]").TextContent));
        snackbars.WaitForAssertion(() => Assert.Contains("Created switch 'lab'", snackbars.Markup));
    }

    [Fact]
    public async Task Remove_asks_first_and_shows_the_agents_refusal()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Switches.AddRange(Views.DefaultSwitches());
        agent.Switches.Add(Lab);
        var (dialogs, _) = Ctx.RenderProviders();
        var page = Ctx.Render<Switches>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("tr[data-switch=lab]")));

        await page.InvokeAsync(() => { _ = RemoveButton(page, "lab").ClickAsync(new()); }); // found and clicked in one render turn
        dialogs.WaitForAssertion(() => Assert.Contains("It is used by web, db", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Cancel").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("It is used by", dialogs.Markup));
        Assert.DoesNotContain(agent.Calls, c => c.StartsWith("RemoveSwitch", StringComparison.Ordinal));

        agent.Failures["RemoveSwitch"] = new AgentException("SwitchInUse", "Switch 'lab' is used by 2 container(s) (db, web): remove them first.");
        await page.InvokeAsync(() => { _ = RemoveButton(page, "lab").ClickAsync(new()); }); // found and clicked in one render turn
        dialogs.WaitForAssertion(() => Assert.Contains("Remove switch 'lab'?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Remove").Click();
        page.WaitForAssertion(() => Assert.Contains("used by 2 container(s) (db, web): remove them first.", page.Find("[role=alert]").TextContent));
        Assert.Contains("RemoveSwitch lab", agent.Calls);

        agent.Failures.Clear();
        agent.Switches.Remove(Lab);
        agent.Switches.Add(Lab with { Containers = [] });
        await page.InvokeAsync(() => page.Find("button[aria-label='Refresh the switch list']").ClickAsync(new()));
        await page.InvokeAsync(() => { _ = RemoveButton(page, "lab").ClickAsync(new()); }); // found and clicked in one render turn
        dialogs.WaitForAssertion(() => Assert.Contains("cannot be undone", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Remove").Click();
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("tr[data-switch=lab]")));
    }

    [Fact]
    public async Task Create_dialog_offers_the_hosts_switches_and_sends_the_chosen_one_with_the_ports()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Switches.AddRange(Views.DefaultSwitches());
        agent.Switches.Add(Lab);
        agent.Switches.Add(Views.Switch("edge", SwitchType.Nat, "10.89.4.0/24"));
        var (dialogs, _) = Ctx.RenderProviders();
        var service = Ctx.Services.GetRequiredService<IDialogService>();
        await dialogs.InvokeAsync(() => service.ShowAsync<CreateContainerDialog>("New container"));
        dialogs.WaitForAssertion(() => Assert.Equal("NAT", SwitchSelect(dialogs).Instance.GetState(x => x.Value)));

        Input(dialogs, "Published ports").Change("8080:80, 53:53/udp");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Contains("Published port '53:53/udp' uses protocol 'udp': only tcp is published.", dialogs.Find("[data-testid=create-errors]").TextContent));
        Assert.DoesNotContain(agent.Calls, c => c.StartsWith("CreateContainer", StringComparison.Ordinal));

        var select = SwitchSelect(dialogs);
        await select.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync("lab"));
        Input(dialogs, "Published ports").Change("8080:80");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Contains("Published ports need a NAT switch, and 'lab' is Internal", dialogs.Find("[data-testid=create-errors]").TextContent));

        await select.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync("edge"));
        Input(dialogs, "Published ports").Change("8080:80, 127.0.0.1:8443:443/tcp");
        Input(dialogs, "Name").Change("web");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());

        var spec = await PortalTestContext.Eventually(() => agent.LastCreateSpec);
        Assert.Equal("edge", spec.SwitchName);
        Assert.Equal(
            [new PortMapping { HostPort = 8080, ContainerPort = 80 }, new PortMapping { HostIp = "127.0.0.1", HostPort = 8443, ContainerPort = 443 }],
            spec.Ports);
    }

    [Fact]
    public async Task Details_and_grid_show_the_switch_address_and_published_ports()
    {
        var web = Views.View(Views.Info("web", ContainerState.Running) with
        {
            SwitchName = "NAT",
            SwitchId = "0123456789ab",
            IpAddress = "10.89.0.2",
            MacAddress = "02:01:23:45:67:89",
            Ports = [new PortMapping { HostIp = "127.0.0.1", HostPort = 8080, ContainerPort = 80 }],
        });
        await Ctx.AddHostAsync("alpha", web);
        Ctx.RenderProviders();
        var host = Ctx.Fleet.Hosts.Single();

        var details = Ctx.Render<ContainerDetails>(p => p.Add(x => x.HostId, host.Id).Add(x => x.ContainerId, "web"));
        details.WaitForAssertion(() => Assert.Equal("127.0.0.1:8080->80/tcp", details.Find("[data-testid=published-ports]").TextContent));
        Assert.Contains("10.89.0.2 (MAC 02:01:23:45:67:89)", details.Markup);

        var grid = Ctx.Render<Containers>();
        grid.WaitForAssertion(() =>
        {
            var row = grid.Find("tr.container-row").TextContent;
            Assert.Contains("NAT", row);
            Assert.Contains("10.89.0.2", row);
        });
    }

    private static IRenderedComponent<MudSelect<string>> SwitchSelect(IRenderedComponent<MudDialogProvider> dialogs) =>
        dialogs.FindComponents<MudSelect<string>>().Single(s => s.Instance.Label == "Switch");

    private static AngleSharp.Dom.IElement RemoveButton(IRenderedComponent<Switches> page, string name) =>
        page.FindAll("button").Single(b => b.GetAttribute("aria-label") == $"Remove switch {name}");

    private static AngleSharp.Dom.IElement Input<T>(IRenderedComponent<T> component, string label)
        where T : Microsoft.AspNetCore.Components.IComponent
    {
        var labelElement = component.FindAll("label").First(l => l.TextContent.Trim().StartsWith(label, StringComparison.Ordinal));
        var id = labelElement.GetAttribute("for");
        return id is not null && component.FindAll($"#{id}").FirstOrDefault() is { } byId
            ? byId
            : labelElement.ParentElement!.QuerySelector("input, textarea")!;
    }
}
