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
        await page.GetByRole(AriaRole.Button, new() { Name = "New container" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
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
        await row.Locator("[data-command=convert]").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^Convert") }).ClickAsync();
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
        await page.GetByTestId("demo-reset").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(page.GetByText("The demo's containers were removed.")).ToBeVisibleAsync(new() { Timeout = Long });
        var left = await fixture.Agent.GetAsync<ContainerView[]>("api/containers");
        Assert.DoesNotContain(left, v => v.Container.Name.StartsWith("isolation-demo-", StringComparison.Ordinal));
        await page.Context.CloseAsync();
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
