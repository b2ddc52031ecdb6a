using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.E2E;

/// <summary>
/// The portal as a person uses it, in Chromium, against the real agent: signing in, a VM-isolated container made with
/// the dialog, a shell in its terminal, converting it, and the isolation demo. Screenshots go to the test output's screenshots/ (docs/screenshots with PORTAL_UPDATE_SCREENSHOTS=1).
/// Waits are generous (a VM boots in seconds under TCG on a busy machine); nothing asserts a duration.
/// </summary>
[Collection(PortalCollection.Name)]
[Trait("Requires", "root")]
public sealed class PortalTests(PortalFixture fixture)
{
    private static readonly float Long = (float)TimeSpan.FromMinutes(3).TotalMilliseconds;

    [RootFact]
    public async Task SignIn_WithTheNewPassword_AfterTheFirstRunChange()
    {
        var page = await fixture.NewSignedInPageAsync(); // the first-run flow (one-time password, change) runs here once
        await page.Context.ClearCookiesAsync();
        await page.GotoAsync("/");
        await PortalBrowser.WaitForAddressAsync(page, "/account/login");
        await page.Locator("#username").FillAsync("admin");
        await page.Locator("#password").FillAsync(fixture.Portal.OneTimePassword!);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Wrong user name or password");
        await FixtureScreenshotAsync(page, "portal-sign-in.png");

        await page.Locator("#password").FillAsync(PortalFixture.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Containers" })).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [RootFact]
    public async Task HyperVContainer_Terminal_ThenConvert_ThenTerminalAgain()
    {
        var page = await fixture.NewSignedInPageAsync();
        var name = "e2e-hyperv";

        // Create with the dialog: VM isolation, started at once.
        await PortalBrowser.OpenAsync(page, "/");
        var dialog = await PortalBrowser.OpenDialogAsync(page.GetByRole(AriaRole.Button, new() { Name = "New container" }));
        await ChooseAsync(dialog, "Host", "local");
        await ChooseAsync(dialog, "Runtime type", "HyperV (VM)");
        await dialog.GetByLabel("Name").FillAsync(name);
        await dialog.GetByLabel("Image").FillAsync("busybox:latest");
        await dialog.GetByLabel("Command").FillAsync("sleep 3600");
        await dialog.GetByLabel("Start after creating").CheckAsync();
        await dialog.GetByTestId("create-submit").ClickAsync();

        var row = page.Locator("tr.container-row", new() { HasText = name });
        await Assertions.Expect(row).ToContainTextAsync("Running", new() { Timeout = Long });
        await Assertions.Expect(row.Locator("[data-runtime=HyperV]")).ToBeVisibleAsync();

        // A shell in it: the grid's terminal button opens the Terminal page with a session.
        await row.GetByRole(AriaRole.Link, new() { NameRegex = new Regex("^Exec|terminal", RegexOptions.IgnoreCase) }).ClickAsync();
        await PortalBrowser.WaitForAddressAsync(page, "/terminal?");
        var session = page.GetByTestId("terminal-session").First;
        await RunInTerminalAsync(page, session, "echo vm-$((6*7)) $(hostname)", $"vm-42 {name}");
        await FixtureScreenshotAsync(page, "portal-terminal.png");

        // Convert to process isolation (it runs, so the portal asks first).
        await PortalBrowser.OpenAsync(page, "/");
        row = page.Locator("tr.container-row", new() { HasText = name });
        var confirm = await PortalBrowser.OpenDialogAsync(row.Locator("[data-command=convert]"));
        await confirm.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^Convert") }).ClickAsync();
        await Assertions.Expect(row.Locator("[data-runtime=Default]")).ToBeVisibleAsync(new() { Timeout = Long });
        await Assertions.Expect(row).ToContainTextAsync("Running", new() { Timeout = Long });

        // Two sessions at once, in tabs, now under process isolation.
        await PortalBrowser.OpenAsync(page, "/terminal");
        for (var i = 0; i < 2; i++)
        {
            await ChooseAsync(page.Locator("body"), "Running container", name);
            await page.GetByRole(AriaRole.Button, new() { Name = "Open a terminal session" }).ClickAsync();
        }

        await Assertions.Expect(page.GetByRole(AriaRole.Tab)).ToHaveCountAsync(2);
        var second = page.GetByTestId("terminal-session").Nth(1);
        await RunInTerminalAsync(page, second, "echo proc-$((6*7))", "proc-42");

        // Paste: the clipboard's text reaches the shell as if typed.
        await page.EvaluateAsync("text => navigator.clipboard.writeText(text)", "echo pasted-$((2*21))");
        await second.GetByRole(AriaRole.Button, new() { Name = "Paste into the terminal" }).ClickAsync();
        // The paste goes through the server and back before the terminal takes the focus: Enter before that would press
        // the Paste button again (on a loaded machine it did: the text came twice and never ran).
        await Assertions.Expect(second.GetByTestId("terminal-screen").Locator(".xterm-rows")).ToContainTextAsync("echo pasted-$((2*21))", new() { Timeout = Long });
        await Assertions.Expect(second.Locator("textarea.xterm-helper-textarea")).ToBeFocusedAsync(new() { Timeout = Long });
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(second.GetByTestId("terminal-screen").Locator(".xterm-rows")).ToContainTextAsync("pasted-42");
        await page.Context.CloseAsync();
    }

    [RootFact]
    public async Task IsolationDemo_ShowsTheMarkerOnTheHostOnlyUnderProcessIsolation()
    {
        var page = await fixture.NewSignedInPageAsync();
        await PortalBrowser.OpenAsync(page, "/demo");
        await Assertions.Expect(page.GetByTestId("demo-run")).ToBeEnabledAsync(new() { Timeout = Long });
        await page.GetByTestId("demo-run").ClickAsync();
        await Assertions.Expect(page.GetByTestId("demo-vm-progress")).ToBeVisibleAsync(new() { Timeout = Long });
        await FixtureScreenshotAsync(page, "portal-demo-booting.png");

        // Process isolation: the marker inside, with a host PID; the host's list has it, tagged with the container.
        var processInside = page.GetByTestId("demo-process-inside").Locator("tbody tr", new() { HasText = "sleep 31337" });
        await Assertions.Expect(processInside).ToHaveCountAsync(1, new() { Timeout = Long });
        var hostPid = await processInside.GetAttributeAsync("data-host-pid");
        Assert.False(string.IsNullOrEmpty(hostPid), "a process-isolated container's process has a host PID");

        // VM isolation: the marker inside, without a host PID; the host sees its VM worker.
        var vmInside = page.GetByTestId("demo-vm-inside").Locator("tbody tr", new() { HasText = "sleep 31337" });
        await Assertions.Expect(vmInside).ToHaveCountAsync(1, new() { Timeout = Long });
        await Assertions.Expect(vmInside).ToContainTextAsync("in the VM");
        await Assertions.Expect(page.GetByTestId("demo-vm-host").Locator("tr[data-vm-worker=true]")).ToHaveCountAsync(1, new() { Timeout = Long });

        // The host's process list filtered to the marker: only the process-isolated one, at the same host PID.
        var markers = page.GetByTestId("demo-host-markers");
        await Assertions.Expect(markers.Locator("tr[data-container=isolation-demo-process]")).ToHaveCountAsync(1, new() { Timeout = Long });
        await Assertions.Expect(markers.Locator("tr[data-container=isolation-demo-vm]")).ToHaveCountAsync(0);
        await Assertions.Expect(markers.Locator($"tr[data-host-pid='{hostPid}']")).ToHaveCountAsync(1);
        await Assertions.Expect(markers.Locator("tr[data-vm-worker=true]")).ToHaveCountAsync(1);
        await FixtureScreenshotAsync(page, "portal-demo.png");

        // The containers grid with both isolation levels side by side: the README's picture.
        await PortalBrowser.OpenAsync(page, "/");
        await Assertions.Expect(page.Locator("tr.container-row", new() { HasText = "isolation-demo-vm" })).ToContainTextAsync("Running");
        await Assertions.Expect(page.Locator("tr.container-row", new() { HasText = "isolation-demo-process" })).ToContainTextAsync("Running");
        await FixtureScreenshotAsync(page, "portal-containers.png");
        await PortalBrowser.OpenAsync(page, "/demo");
        await Assertions.Expect(page.GetByTestId("demo-host-markers").Locator("tr[data-vm-worker=true]")).ToHaveCountAsync(1, new() { Timeout = Long });

        // Reset asks first, then removes both containers.
        var reset = await PortalBrowser.OpenDialogAsync(page.GetByTestId("demo-reset"));
        await reset.GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(page.GetByText("The demo's containers were removed.")).ToBeVisibleAsync(new() { Timeout = Long });
        var left = await fixture.Agent.GetAsync<ContainerView[]>("api/containers");
        Assert.DoesNotContain(left, v => v.Container.Name.StartsWith("isolation-demo-", StringComparison.Ordinal));
        await page.Context.CloseAsync();
    }

    /// <summary>
    /// Team self-service end to end: an administrator makes a user and a team with a quota of one container and a
    /// HyperV-only policy; the member signs in, creates a container without choosing its isolation (the policy makes it
    /// VM-isolated), is refused the second by the agent with the quota named; the administrator finds both in the audit.
    /// </summary>
    [RootFact]
    public async Task Team_QuotaAndHyperVOnlyPolicy_HoldForAMember_AndTheAuditShowsBoth()
    {
        const string team = "e2e-blue", user = "e2e-mia", memberPassword = "E2e-Member-Password-1!";
        var admin = await fixture.NewSignedInPageAsync();

        // The user, with the one-time password the page shows once.
        await PortalBrowser.OpenAsync(admin, "/users");
        await admin.GetByLabel("New user").FillAsync(user);
        await admin.GetByTestId("add-user").ClickAsync();
        var oneTime = (await admin.GetByTestId("new-user-password").InnerTextAsync()).Trim();

        // The team: the member, a quota of one container, HyperV only.
        await PortalBrowser.OpenAsync(admin, "/teams");
        await admin.GetByLabel("New team").FillAsync(team);
        await admin.GetByTestId("create-team").ClickAsync();
        var card = admin.Locator($"[data-testid=team][data-team={team}]");
        await ChooseAsync(card, "User", user);
        await ChooseAsync(card, "Role", "Member");
        await card.GetByTestId("add-member").ClickAsync();
        await Assertions.Expect(card.Locator($"[data-member={user}]")).ToBeVisibleAsync();
        var containers = card.GetByLabel("Containers", new() { Exact = true });
        await containers.FillAsync("1");
        await containers.PressAsync("Tab");
        // Only HyperV allowed (no switch on means no restriction). MudSwitch's input sits under its drawn track.
        await card.GetByLabel("HyperV (VM)").CheckAsync(new() { Force = true });
        await Assertions.Expect(card.GetByLabel("Process (Default)")).Not.ToBeCheckedAsync();
        await card.GetByTestId("save-limits").ClickAsync();
        await Assertions.Expect(admin.GetByText($"Quota and policy of {team} saved")).ToBeVisibleAsync();
        await Assertions.Expect(card.GetByTestId("team-push-status")).ToContainTextAsync("up to date");
        await Assertions.Expect(card).ToContainTextAsync("Containers: 0 of 1"); // the agent's use, against the quota it now holds
        await FixtureScreenshotAsync(admin, "portal-teams.png");

        // The member: first sign-in, acting for the team.
        await using var memberContext = await fixture.NewContextAsync(fixture.ContextOptions());
        var member = await memberContext.NewPageAsync();
        await PortalBrowser.FirstSignInAsync(member, fixture.Portal, memberPassword, user, oneTime);
        await Assertions.Expect(member.GetByTestId("acting-team")).ToContainTextAsync(team);

        // A container without a runtime type: the policy's only type, HyperV, and it runs.
        await PortalBrowser.OpenAsync(member, "/");
        var dialog = await PortalBrowser.OpenDialogAsync(member.GetByRole(AriaRole.Button, new() { Name = "New container" }));
        await ChooseAsync(dialog, "Host", "local");
        await Assertions.Expect(dialog.GetByTestId("create-team-limits")).ToContainTextAsync("Runtime types allowed: HyperV");
        await dialog.GetByLabel("Name").FillAsync("e2e-team-vm");
        await dialog.GetByLabel("Image").FillAsync("busybox:latest");
        await dialog.GetByLabel("Command").FillAsync("sleep 3600");
        await dialog.GetByLabel("Start after creating").CheckAsync();
        await dialog.GetByTestId("create-submit").ClickAsync();
        var row = member.Locator("tr.container-row", new() { HasText = "e2e-team-vm" });
        await Assertions.Expect(row).ToContainTextAsync("Running", new() { Timeout = Long });
        await Assertions.Expect(row.Locator("[data-runtime=HyperV]")).ToBeVisibleAsync();

        // The second is one too many: the agent refuses it, naming the quota, and the dialog says so.
        dialog = await PortalBrowser.OpenDialogAsync(member.GetByRole(AriaRole.Button, new() { Name = "New container" }));
        await ChooseAsync(dialog, "Host", "local");
        await dialog.GetByLabel("Name").FillAsync("e2e-team-vm2");
        await dialog.GetByLabel("Image").FillAsync("busybox:latest");
        await dialog.GetByTestId("create-submit").ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Alert).Filter(new() { HasText = "quota: containers" })).ToBeVisibleAsync(new() { Timeout = Long });
        await FixtureScreenshotAsync(member, "portal-team-quota.png");

        // The administrator's audit: the member's create allowed, the second denied by the quota rule.
        await PortalBrowser.OpenAsync(admin, "/audit");
        var teamFilter = admin.Locator("#audit-team");
        await teamFilter.FillAsync(team);
        await teamFilter.PressAsync("Enter");
        var allowed = admin.Locator("tr.audit-row[data-action='container.create'][data-decision=Allowed]", new() { HasText = user });
        var denied = admin.Locator("tr.audit-row[data-action='container.create'][data-decision=Denied]", new() { HasText = "team-quota" });
        await Assertions.Expect(allowed).ToHaveCountAsync(1, new() { Timeout = Long });
        await Assertions.Expect(denied).ToHaveCountAsync(1);
        await FixtureScreenshotAsync(admin, "portal-audit.png");
        await admin.Context.CloseAsync();
    }

    /// <summary>Types a command into a session's terminal and waits for its output on the screen.</summary>
    private static async Task RunInTerminalAsync(IPage page, ILocator session, string command, string expected)
    {
        await Assertions.Expect(session).ToHaveAttributeAsync("data-session-state", "Running", new() { Timeout = Long });
        var screen = session.GetByTestId("terminal-screen");
        await screen.ClickAsync();
        // The shell's prompt first, so the keys reach a shell that reads them.
        await Assertions.Expect(screen.Locator(".xterm-rows")).ToContainTextAsync(new Regex("[#$] ?"), new() { Timeout = Long });
        await page.Keyboard.TypeAsync(command);
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(screen.Locator(".xterm-rows")).ToContainTextAsync(expected, new() { Timeout = Long });
    }

    /// <summary>Opens the MudSelect labelled <paramref name="label"/> and picks the item that contains <paramref name="item"/>.</summary>
    private static async Task ChooseAsync(ILocator scope, string label, string item)
    {
        var page = scope.Page;
        var labelled = page.Locator("label", new() { HasTextRegex = new Regex($"^{Regex.Escape(label)}\\*?$") });
        var control = scope.Locator(".mud-input-control", new() { Has = labelled }).First;
        try
        {
            await control.Locator(".mud-input").First.ClickAsync();
            await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = item }).First.ClickAsync();
        }
        catch (TimeoutException)
        {
            await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "portal-e2e-failure.html"), await page.ContentAsync());
            throw;
        }
    }

    private static Task FixtureScreenshotAsync(IPage page, string name) => PortalFixture.ScreenshotAsync(page, name);
}
