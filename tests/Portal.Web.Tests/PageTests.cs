using Microsoft.Extensions.DependencyInjection;
using HostsPage = Portal.Web.Components.Pages.Hosts;
using MudBlazor;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Web.Components.Dialogs;
using Portal.Web.Components.Pages;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>The hosts, create, details, images and compute systems pages against fake agents.</summary>
public sealed class PageTests : PortalTest
{
    [Fact]
    public async Task Hosts_page_refuses_a_bad_address_then_adds_shows_and_removes_a_host()
    {
        var (dialogs, _) = Ctx.RenderProviders();
        var page = Ctx.Render<HostsPage>();
        var inputs = page.FindAll("input");
        inputs[0].Change("web-01");
        inputs[1].Change("web-01:5081");
        inputs[2].Change("pk_secret");
        await page.Find("[data-testid=add-host]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Contains("has scheme 'web-01'", page.Find("[role=alert]").TextContent));
        Assert.Empty(Ctx.Fleet.Hosts);

        page.FindAll("input")[1].Change("http://web-01.test:5081");
        await page.Find("[data-testid=add-host]").ClickAsync(new());
        var client = await PortalTestContext.Eventually(() => Ctx.Clients.Created.FirstOrDefault(c => c.Connected));
        Assert.Equal("pk_secret", client.Endpoint.ApiKey);
        client.Push(Views.Snapshot());
        client.Push(Views.Host("web-01"));
        page.WaitForAssertion(() =>
        {
            var card = page.Find("[data-testid=host-card]").TextContent;
            Assert.Contains("Connected", card);
            Assert.Contains("crun refused this host's hybrid cgroups", card);
            Assert.Contains("KVM guests did not boot", card);
            Assert.Contains("2 CPUs, 4 GiB memory", card);
        });

        await page.InvokeAsync(() => { _ = page.FindAll("button").Single(b => b.GetAttribute("aria-label") == "Remove host web-01").ClickAsync(new()); });
        dialogs.WaitForAssertion(() => Assert.Contains("Its containers keep running", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Remove").Click();
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=host-card]")));
    }

    [Fact]
    public async Task Create_dialog_lists_mistakes_then_creates_and_starts_on_the_chosen_host()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        var (dialogs, _) = Ctx.RenderProviders();
        var service = Ctx.Services.GetRequiredService<IDialogService>();
        await dialogs.InvokeAsync(() => service.ShowAsync<CreateContainerDialog>("New container"));
        dialogs.WaitForAssertion(() => Assert.NotNull(dialogs.Find("[data-testid=create-submit]")));

        Input(dialogs, "Image").Change("");
        Input(dialogs, "Environment").Change("JUSTAWORD");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());
        dialogs.WaitForAssertion(() =>
        {
            var errors = dialogs.Find("[data-testid=create-errors]").TextContent;
            Assert.Contains("Enter an image", errors);
            Assert.Contains("is not KEY=VALUE", errors);
        });
        Assert.DoesNotContain(agent.Calls, c => c.StartsWith("CreateContainer", StringComparison.Ordinal));

        Input(dialogs, "Image").Change("busybox:latest");
        Input(dialogs, "Environment").Change("MODE=demo");
        Input(dialogs, "Name").Change("web");
        dialogs.Find("input[type=checkbox][aria-label='Start after creating'], label:contains('Start after creating') input").Change(true);
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());

        await PortalTestContext.Eventually(() => agent.Calls.Contains("CreateContainer web busybox:latest null") && agent.Calls.Any(c => c.StartsWith("StartContainer web", StringComparison.Ordinal)));
        dialogs.WaitForAssertion(() => Assert.Empty(dialogs.FindAll("[data-testid=create-submit]")));
    }

    [Fact]
    public async Task Create_dialog_shows_the_agents_refusal()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Failures["CreateContainer"] = new AgentException("NameInUse", "The name 'web' is in use by container 1a2b3c4d5e6f: pick another name or remove that container.");
        var (dialogs, _) = Ctx.RenderProviders();
        var service = Ctx.Services.GetRequiredService<IDialogService>();
        await dialogs.InvokeAsync(() => service.ShowAsync<CreateContainerDialog>("New container"));
        dialogs.WaitForAssertion(() => Assert.NotNull(dialogs.Find("[data-testid=create-submit]")));

        Input(dialogs, "Name").Change("web");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());

        dialogs.WaitForAssertion(() => Assert.Contains("pick another name or remove that container", dialogs.Find("[data-testid=create-errors]").TextContent));
    }

    [Fact]
    public async Task Details_page_shows_settings_logs_and_processes()
    {
        var web = Views.View(Views.Info("web", ContainerState.Running) with { Environment = ["MODE=demo"], HostPid = 4242 });
        var agent = await Ctx.AddHostAsync("alpha", web);
        agent.LogEntries.Add(new LogEntry(DateTimeOffset.UtcNow, LogStream.Stdout, "hello from web\n"));
        agent.LogEntries.Add(new LogEntry(DateTimeOffset.UtcNow, LogStream.Stderr, "a warning\n"));
        agent.Isolation = new IsolationView
        {
            Container = web.Container,
            Inside = [new ContainerProcessInfo { Pid = 1, HostPid = 4242, User = "root", Name = "sh", CommandLine = "sh -c sleep 3600", CpuSeconds = 0.5, MemoryBytes = 1 << 20 }],
            SeenFromHost = [],
        };
        Ctx.RenderProviders();
        var host = Ctx.Fleet.Hosts.Single();

        var page = Ctx.Render<ContainerDetails>(p => p.Add(x => x.HostId, host.Id).Add(x => x.ContainerId, "web"));

        page.WaitForAssertion(() =>
        {
            Assert.Contains("MODE=demo", page.Markup);
            Assert.Contains("4242", page.Markup);
        });
        Assert.Contains(agent.Calls, c => c.StartsWith("Logs web-", StringComparison.Ordinal) && c.EndsWith("200 True", StringComparison.Ordinal));
        await PortalTestContext.Eventually(() => agent.Calls.Any(c => c.StartsWith("SubscribeProcesses web-", StringComparison.Ordinal)));

        await page.InvokeAsync(() => page.FindComponent<MudTabs>().Instance.ActivatePanelAsync(1, false));
        page.WaitForAssertion(() =>
        {
            var log = page.Find("[data-testid=logs]");
            Assert.Contains("hello from web", log.TextContent);
            Assert.Contains("a warning", log.QuerySelector(".stderr")!.TextContent);
        });

        await page.InvokeAsync(() => page.FindComponent<MudTabs>().Instance.ActivatePanelAsync(2, false));
        page.WaitForAssertion(() => Assert.Contains("sh -c sleep 3600", page.Find("[data-testid=processes]").TextContent));
    }

    [Fact]
    public async Task Details_page_names_a_container_that_is_gone()
    {
        await Ctx.AddHostAsync("alpha");
        var host = Ctx.Fleet.Hosts.Single();

        var page = Ctx.Render<ContainerDetails>(p => p.Add(x => x.HostId, host.Id).Add(x => x.ContainerId, "ghost"));

        page.WaitForAssertion(() => Assert.Contains("has no container 'ghost'", page.Markup));
    }

    [Fact]
    public async Task Images_page_lists_imports_with_progress_and_shows_a_refused_removal()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Images.Add(new ImageInfo { Id = "sha256:" + new string('a', 64), Tags = ["busybox:latest"], SizeBytes = 2 << 20, CreatedAt = DateTimeOffset.UnixEpoch, Layers = ["sha256:l1"] });
        agent.Failures["RemoveImage"] = new AgentException("ImageInUse", "Image 'sha256:aaa' is used by container(s) 'web': remove them first.");
        var (dialogs, snackbars) = Ctx.RenderProviders();

        var page = Ctx.Render<Images>();
        page.WaitForAssertion(() => Assert.Contains("busybox:latest", page.Find("[data-testid=images]").TextContent));

        Input(page, "Name it (optional)").Change("team/app:1");
        page.FindComponent<Microsoft.AspNetCore.Components.Forms.InputFile>().UploadFiles(InputFileContent.CreateFromBinary(new byte[200_000], "app.tar"));
        await PortalTestContext.Eventually(() => agent.Calls.Contains("ImportImage team/app:1 200000"));
        page.WaitForAssertion(() => Assert.Contains("team/app:1", page.Find("[data-testid=images]").TextContent));
        snackbars.WaitForAssertion(() => Assert.Contains("Imported team/app:1 on alpha", snackbars.Markup));

        _ = page.FindAll("button").First(b => b.GetAttribute("aria-label") == "Remove image busybox:latest").ClickAsync(new());
        dialogs.WaitForAssertion(() => Assert.Contains("cannot be undone", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Remove").Click();
        page.WaitForAssertion(() => Assert.Contains("used by container(s) 'web': remove them first.", page.Find("[role=alert]").TextContent));
    }

    [Fact]
    public async Task Compute_systems_page_shows_containers_and_their_vms_with_the_worker_pid()
    {
        var agent = await Ctx.AddHostAsync("alpha");
        agent.Push(new ChangeBatch<ComputeSystemInfo>(true,
        [
            new(ChangeKind.Upsert, "abc", new ComputeSystemInfo { Id = "abc", Name = "vm1", Owner = "portal", Type = ComputeSystemType.Container, RuntimeType = RuntimeType.HyperV, State = ContainerState.Running }),
            new(ChangeKind.Upsert, "abc@vm", new ComputeSystemInfo { Id = "abc@vm", Name = "vm1", Owner = "portal", Type = ComputeSystemType.VirtualMachine, RuntimeType = RuntimeType.HyperV, State = ContainerState.Running, HostPid = 31337 }),
        ], DateTimeOffset.UtcNow));
        Ctx.RenderProviders();

        var page = Ctx.Render<ComputeSystems>();

        page.WaitForAssertion(() =>
        {
            var vm = page.Find("tr[data-type=VirtualMachine]").TextContent;
            Assert.Contains("31337", vm);
            Assert.Contains("abc@vm", vm);
            Assert.Single(page.FindAll("tr[data-type=Container]"));
        });
    }

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
