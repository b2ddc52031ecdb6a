using Microsoft.Playwright;
using Portal.Contracts;

namespace Portal.Web.E2E;

/// <summary>
/// The real agent (its own process, private state) and the real portal (its own process, port and SQLite file), one
/// Chromium, and a signed-in browser state. Everything goes away in <see cref="DisposeAsync"/>, also when setting up
/// failed half way: containers and VMs (through the agent), the processes, and the sandbox's directories and mounts.
/// A missing prerequisite (chromium, the guest kernel) fails the setup with what to install. Without root the tests are
/// skipped (<see cref="RootOnly"/>) and this fixture, which xunit creates all the same, starts and cleans nothing.
/// </summary>
public sealed class PortalFixture : IAsyncLifetime
{
    public const string AdminPassword = "E2e-Portal-Password-1!";

    private readonly SemaphoreSlim _signIn = new(1, 1);
    private AgentProcess? _agent;
    private PortalProcess? _portal;
    private IPlaywright? _playwright;
    private string? _storageState;

    public TestSandbox Sandbox { get; } = new("portal-e2e");

    public AgentProcess Agent => _agent ?? throw new InvalidOperationException("The agent has not started.");

    public PortalProcess Portal => _portal ?? throw new InvalidOperationException("The portal has not started.");

    public IBrowser Browser { get; private set; } = default!;

    /// <summary>
    /// Where the screenshots go: the test output's screenshots/ folder, so a test run leaves the checkout as it was; with
    /// PORTAL_UPDATE_SCREENSHOTS=1, docs/screenshots of the repository the tests were built from (to refresh the docs).
    /// </summary>
    public static string ScreenshotDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("PORTAL_UPDATE_SCREENSHOTS") != "1")
            {
                return Path.Combine(AppContext.BaseDirectory, "screenshots");
            }

            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Portal.sln")))
                {
                    return Path.Combine(dir.FullName, "docs", "screenshots");
                }
            }

            throw new DirectoryNotFoundException("Cannot find the repository (Portal.sln) above the tests' directory.");
        }
    }

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            Assertions.SetDefaultExpectTimeout(30_000);
            _agent = new AgentProcess(Sandbox);
            await _agent.StartAsync();
            var host = await _agent.GetAsync<HostInfo>("api/host");
            if (!host.RuntimeTypes.Contains(RuntimeType.HyperV))
            {
                throw new InvalidOperationException($"The agent offers no VM isolation ({host.VmAcceleratorReason}); build the guest with ./deploy/guest/build.");
            }

            _portal = new PortalProcess(Sandbox, _agent.SocketPath);
            await _portal.StartAsync();
            (_playwright, Browser) = await PortalBrowser.LaunchAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>A new page in a context that is signed in as admin (the first sign-in, with its password change, runs once).</summary>
    public async Task<IPage> NewSignedInPageAsync()
    {
        await _signIn.WaitAsync();
        try
        {
            if (_storageState is null)
            {
                await using var context = await NewContextAsync(ContextOptions());
                var page = await context.NewPageAsync();
                await PortalBrowser.FirstSignInAsync(page, Portal, AdminPassword);
                _storageState = await context.StorageStateAsync();
            }
        }
        finally
        {
            _signIn.Release();
        }

        var options = ContextOptions();
        options.StorageState = _storageState;
        var signedIn = await NewContextAsync(options);
        return await signedIn.NewPageAsync();
    }

    /// <summary>A context whose waits allow for a machine that builds and tests other things at the same time.</summary>
    public async Task<IBrowserContext> NewContextAsync(BrowserNewContextOptions options)
    {
        var context = await Browser.NewContextAsync(options);
        context.SetDefaultTimeout(90_000);
        context.SetDefaultNavigationTimeout(90_000);
        return context;
    }

    public BrowserNewContextOptions ContextOptions() => new()
    {
        BaseURL = Portal.Url,
        ViewportSize = new ViewportSize { Width = 1440, Height = 900 },
        Permissions = ["clipboard-read", "clipboard-write"],
    };

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name) });
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            if (Browser is not null)
            {
                await Browser.CloseAsync();
            }
        }
        catch (PlaywrightException)
        {
        }

        _playwright?.Dispose();
        if (_portal is not null)
        {
            await _portal.DisposeAsync();
        }

        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        Sandbox.Clean();
    }
}

[CollectionDefinition(Name)]
public sealed class PortalCollection : ICollectionFixture<PortalFixture>
{
    public const string Name = "portal";
}
