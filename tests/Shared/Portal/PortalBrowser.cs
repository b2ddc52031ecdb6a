using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Portal.Tests.Shared;

/// <summary>
/// Debian's Chromium driven by Playwright (no browser download), and what every browser run of the portal does first:
/// the first-run sign-in with the one-time password and the forced password change.
/// </summary>
public static class PortalBrowser
{
    public const string Chromium = "/usr/bin/chromium";

    public static BrowserTypeLaunchOptions LaunchOptions => new()
    {
        ExecutablePath = Chromium,
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    };

    /// <summary>Starts Playwright's driver and Chromium; a missing chromium is a setup failure that says what to install.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(Chromium))
        {
            throw new InvalidOperationException($"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; deploy/portal lists it).");
        }

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        try
        {
            return (playwright, await playwright.Chromium.LaunchAsync(LaunchOptions));
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The first sign-in: a user (the first-run admin unless named) with the one-time password (the portal's first-run
    /// one unless given), then the forced change to <paramref name="newPassword"/>.
    /// </summary>
    public static async Task FirstSignInAsync(IPage page, PortalProcess portal, string newPassword, string user = "admin", string? oneTimePassword = null)
    {
        oneTimePassword ??= portal.OneTimePassword!;
        try
        {
            await page.GotoAsync($"{portal.Url}/");
            await WaitForAddressAsync(page, "/account/login");
            await page.Locator("#username").FillAsync(user);
            await page.Locator("#password").FillAsync(oneTimePassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await WaitForAddressAsync(page, "/account/change-password");
            await page.Locator("#current").FillAsync(oneTimePassword);
            await page.Locator("#new").FillAsync(newPassword);
            await page.Locator("#confirm").FillAsync(newPassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
            await page.GetByRole(AriaRole.Heading, new() { Name = "Containers" }).WaitForAsync();
        }
        catch (Exception e) when (e is TimeoutException or PlaywrightException)
        {
            throw new InvalidOperationException($"The first sign-in failed at {page.Url}: {e.Message}\nPortal log:\n{portal.RecentLog}", e);
        }
    }

    /// <summary>
    /// Waits until the page's address contains <paramref name="fragment"/>, looking at the address only. Not
    /// WaitForURLAsync: when the address already matches it waits for the "load" event whatever WaitUntil says
    /// (Commit maps to none, which means Load), and a busy machine spent 90 s there after a sign-in redirect.
    /// </summary>
    public static Task WaitForAddressAsync(IPage page, string fragment) =>
        Assertions.Expect(page).ToHaveURLAsync(new Regex(Regex.Escape(fragment)), new() { Timeout = 90_000 });

    /// <summary>
    /// Opens a dialog with <paramref name="button"/> and returns it. Clicks again when no dialog came: on a loaded machine
    /// Blazor Server can lose a click (the button re-rendered under the pointer, or the circuit reconnecting); a user
    /// clicks again too. A second click cannot open a second dialog: the first one's overlay takes the click.
    /// </summary>
    public static async Task<ILocator> OpenDialogAsync(ILocator button)
    {
        var dialog = button.Page.GetByRole(AriaRole.Dialog);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            try
            {
                await button.ClickAsync(new() { Timeout = 15_000 });
                await dialog.WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 15_000 });
                return dialog;
            }
            catch (TimeoutException) when (DateTime.UtcNow < deadline)
            {
                if (await dialog.CountAsync() > 0)
                {
                    return dialog;
                }
            }
        }
    }

    /// <summary>Goes to a page and waits until its circuit is interactive (a prerendered page ignores clicks until then).</summary>
    public static async Task OpenAsync(IPage page, string path)
    {
        await page.GotoAsync(path);
        await page.Locator("[data-portal-interactive=true]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }
}
