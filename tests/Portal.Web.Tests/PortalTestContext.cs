using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using Portal.Client;
using Portal.Contracts.Hub;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Model;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>
/// A bUnit context with the portal's real services (host registry in a private SQLite file, or the given database, made
/// by the portal's migrations; the fleet, operations) in front of <see cref="FakeAgentClient"/>s, and MudBlazor set up as
/// its docs ask for tests.
/// </summary>
public sealed class PortalTestContext : BunitContext
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-web-tests-").FullName;

    public PortalTestContext(PortalStorage? storage = null)
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        // Two shared cores run several builds at once here: give renders time.
        DefaultWaitTimeout = TimeSpan.FromSeconds(10);
        Services.AddMudServices();
        Services.AddSingleton(TimeProvider.System);
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(Options));
        Services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        (storage ?? PortalStorage.Sqlite(Path.Combine(_directory, "portal.db"))).AddTo(Services);
        Services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        Services.AddSingleton<HostRegistry>();
        Services.AddSingleton<IAgentClientFactory>(Clients);
        Services.AddSingleton<Fleet>();
        Services.AddScoped<ContainerOperations>();
        Services.AddSingleton<Portal.Web.Teams.TeamDirectory>();
        Services.AddSingleton<Portal.Web.Teams.TeamSync>();
        Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        Services.AddIdentityCore<PortalUser>(PortalServices.IdentityRules).AddEntityFrameworkStores<PortalDbContext>().AddDefaultTokenProviders();
        Services.AddScoped<Portal.Web.Teams.ActingSession>();
        Services.AddScoped<Portal.Web.Teams.SessionFleet>();
        Authorization = AddAuthorization();
        Authorization.SetAuthorized("admin").SetRoles(Portal.Web.Account.PortalRoles.Administrator);
        using var db = Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContext();
        db.Database.Migrate();
        // The default signed-in user exists: the team directory checks a change's user against the database.
        db.Users.Add(new PortalUser { UserName = "admin", NormalizedUserName = "ADMIN", IsAdministrator = true });
        db.SaveChanges();
    }

    public PortalOptions Options { get; } = new()
    {
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(100),
        StatisticsInterval = TimeSpan.FromMilliseconds(50),
    };

    public FakeAgentClientFactory Clients { get; } = new();

    /// <summary>The signed-in user: a portal administrator unless a test says otherwise (SetRoles(), SetAuthorized("ann")).</summary>
    public Bunit.TestDoubles.BunitAuthorizationContext Authorization { get; }

    public Fleet Fleet => Services.GetRequiredService<Fleet>();

    /// <summary>The team directory; resolving it also starts <see cref="Portal.Web.Teams.TeamSync"/>, which pushes its changes to the hosts.</summary>
    public Portal.Web.Teams.TeamDirectory Teams
    {
        get
        {
            Services.GetRequiredService<Portal.Web.Teams.TeamSync>();
            return Services.GetRequiredService<Portal.Web.Teams.TeamDirectory>();
        }
    }

    /// <summary>Adds a portal user (not an administrator unless asked) straight to the database.</summary>
    public async Task AddUserAsync(string name, bool administrator = false)
    {
        await using var db = await Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        db.Users.Add(new PortalUser { UserName = name, NormalizedUserName = name.ToUpperInvariant(), IsAdministrator = administrator });
        await db.SaveChangesAsync();
    }

    /// <summary>Registers a host and waits until the portal connected to its fake; returns that fake.</summary>
    public async Task<FakeAgentClient> AddHostAsync(string name, params ContainerView[] containers)
    {
        var host = await Fleet.AddAsync(name, $"http://{name}.test:5081", "pk_test_secret", CancellationToken.None);
        var client = await Eventually(() => Clients.Created.LastOrDefault(c => c.Endpoint.Display == $"http://{name}.test:5081" && c.Connected));
        client.Push(Views.Snapshot(containers));
        client.Push(Views.Host(name));
        await Eventually(() => host.State == HostConnectionState.Connected ? host : null);
        return client;
    }

    /// <summary>MudBlazor's providers, rendered beside the component under test, so dialogs, snackbars and popovers show.</summary>
    public (IRenderedComponent<MudBlazor.MudDialogProvider> Dialogs, IRenderedComponent<MudBlazor.MudSnackbarProvider> Snackbars) RenderProviders()
    {
        Render<MudBlazor.MudPopoverProvider>();
        return (Render<MudBlazor.MudDialogProvider>(), Render<MudBlazor.MudSnackbarProvider>());
    }

    /// <summary>
    /// Polls until <paramref name="probe"/> returns something (background work is asynchronous). The bound only ends a
    /// test that is wrong: a loaded machine (the suite beside stress-ng and a build) once took more than 5 s for two
    /// statistics rounds, so it is generous.
    /// </summary>
    public static async Task<T> Eventually<T>(Func<T?> probe, int timeoutMs = 30_000)
        where T : class
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            if (probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not hold in time.");
            }

            await Task.Delay(10);
        }
    }

    public static Task Eventually(Func<bool> probe, int timeoutMs = 30_000) =>
        Eventually(() => probe() ? "" : null, timeoutMs);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still open; the temp directory is cleaned by the system.
        }
    }
}
