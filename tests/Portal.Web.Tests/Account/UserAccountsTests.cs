using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Web.Account;
using Portal.Web.Data;
using Portal.Web.Tests.Data;

namespace Portal.Web.Tests.Account;

/// <summary>
/// Sessions end when their user goes (unit tier: Identity on a private SQLite file, no process): an open circuit's user
/// is checked again every interval, and a disabled, deleted or reset user loses it; `reset-password` gives a way back.
/// On each database: a temporary SQLite file, and PostgreSQL (as root).
/// </summary>
public abstract class UserAccountsTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-accounts-").FullName;
    private TestDatabase _database = null!;
    private ServiceProvider _services = null!;

    private PortalOptions Options { get; set; } = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public sealed class OnSqlite : UserAccountsTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
    }

    [RootOnlyTests]
    [Collection(PostgreSqlCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServer server) : UserAccountsTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => server.CreateDatabaseAsync();
    }

    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        Options = new PortalOptions
        {
            Database = _database.Storage.SqliteFile ?? Path.Combine(_directory, "portal.db"),
            KeysDirectory = Path.Combine(_directory, "keys"),
            UserRevalidationInterval = TimeSpan.FromMilliseconds(100),
        };
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(Options));
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        _database.Storage.AddTo(services);
        services.AddIdentityCore<PortalUser>(PortalServices.IdentityRules)
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddClaimsPrincipalFactory<PortalClaims>()
            .AddDefaultTokenProviders();
        _services = services.BuildServiceProvider();
        await using var scope = _services.CreateAsyncScope();
        await PortalMigrations.MigrateAsync(scope.ServiceProvider.GetRequiredService<PortalDbContext>(), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [DatabaseFact]
    public async Task A_session_holds_while_its_user_is_unchanged_even_through_a_temporary_lockout()
    {
        var (users, user, session) = await SignInAsync("alice");
        Assert.True(await UserAccounts.IsStillValidAsync(users, session));
        await users.UpdateAsync(user); // a plain update keeps the stamp
        Assert.True(await UserAccounts.IsStillValidAsync(users, session));

        // Wrong passwords lock the account for minutes: that stops new sign-ins, not the sessions it already has.
        for (var i = 0; i < 5; i++)
        {
            await users.AccessFailedAsync(user);
        }

        Assert.True(await users.IsLockedOutAsync(user));
        Assert.True(await UserAccounts.IsStillValidAsync(users, session));
    }

    [DatabaseFact]
    public async Task A_disabled_deleted_or_reset_user_loses_its_sessions()
    {
        var (users, alice, aliceSession) = await SignInAsync("alice");
        await UserAccounts.DisableAsync(users, alice);
        Assert.True(UserAccounts.IsDisabled(alice));
        Assert.False(await UserAccounts.IsStillValidAsync(users, aliceSession));

        var (_, bob, bobSession) = await SignInAsync("bob");
        await users.DeleteAsync(bob);
        Assert.False(await UserAccounts.IsStillValidAsync(users, bobSession));

        var (_, _, carolSession) = await SignInAsync("carol");
        await UserAccounts.ResetPasswordAsync(users, "carol");
        Assert.False(await UserAccounts.IsStillValidAsync(users, carolSession));

        // A session without a stamp (forged, or from before stamps) is not trusted.
        var (_, dave, _) = await SignInAsync("dave");
        var stampless = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, dave.Id), new Claim(ClaimTypes.Name, "dave")], "Identity.Application"));
        Assert.False(await UserAccounts.IsStillValidAsync(users, stampless));
    }

    [DatabaseFact]
    public async Task An_open_circuit_of_a_disabled_user_becomes_anonymous_within_the_interval()
    {
        var (users, user, session) = await SignInAsync("alice");
        using var circuit = new UserRevalidation(NullLoggerFactory.Instance, _services.GetRequiredService<IServiceScopeFactory>(), Microsoft.Extensions.Options.Options.Create(Options));
        var changed = new TaskCompletionSource<AuthenticationState>(TaskCreationOptions.RunContinuationsAsynchronously);
        circuit.AuthenticationStateChanged += async state =>
        {
            if ((await state).User.Identity?.IsAuthenticated != true)
            {
                changed.TrySetResult(await state);
            }
        };
        ((IHostEnvironmentAuthenticationStateProvider)circuit).SetAuthenticationState(Task.FromResult(new AuthenticationState(session)));
        Assert.Equal("alice", (await circuit.GetAuthenticationStateAsync()).User.Identity?.Name);

        await UserAccounts.DisableAsync(users, user);

        // Waits for the change (10 s covers a loaded machine; the interval is 100 ms).
        var state = await changed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(state.User.Identity?.IsAuthenticated);
        Assert.False((await circuit.GetAuthenticationStateAsync()).User.Identity?.IsAuthenticated);
    }

    [DatabaseFact]
    public async Task A_rendered_page_of_a_disabled_user_leaves_for_the_sign_in_page()
    {
        var (users, user, session) = await SignInAsync("alice");
        await using var bunit = new BunitContext();
        BunitContext.DefaultWaitTimeout = TimeSpan.FromSeconds(10); // as PortalTestContext: renders on a loaded machine
        // The real authorization services and the real provider, in place of bUnit's test doubles.
        Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.RemoveAll<Microsoft.AspNetCore.Authorization.IAuthorizationService>(bunit.Services);
        bunit.Services.AddAuthorizationCore();
        var circuit = new UserRevalidation(NullLoggerFactory.Instance, _services.GetRequiredService<IServiceScopeFactory>(), Microsoft.Extensions.Options.Options.Create(Options));
        ((IHostEnvironmentAuthenticationStateProvider)circuit).SetAuthenticationState(Task.FromResult(new AuthenticationState(session)));
        bunit.Services.AddSingleton<AuthenticationStateProvider>(circuit);
        var navigation = bunit.Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        navigation.NavigateTo("hosts");

        // What Routes.razor does: the page for a signed-in user, the sign-in redirect for anyone else.
        var page = bunit.Render<Microsoft.AspNetCore.Components.Authorization.CascadingAuthenticationState>(p => p.AddChildContent<AuthorizeView>(view => view
            .Add(v => v.Authorized, state => builder => builder.AddMarkupContent(0, $"<p id=\"page\">hosts of {state.User.Identity!.Name}</p>"))
            .Add(v => v.NotAuthorized, _ => builder =>
            {
                builder.OpenComponent<Portal.Web.Components.RedirectToLogin>(0);
                builder.CloseComponent();
            })));
        page.WaitForAssertion(() => Assert.Equal("hosts of alice", page.Find("#page").TextContent));

        await UserAccounts.DisableAsync(users, user);

        page.WaitForAssertion(() =>
        {
            // The redirect and the page's re-render to "not authorized" are two steps: wait for both.
            Assert.Contains("account/login?returnUrl=hosts", navigation.Uri);
            Assert.Empty(page.FindAll("#page"));
        });
    }

    [DatabaseFact]
    public async Task Reset_password_sets_a_one_time_password_to_change_and_enables_the_user_again()
    {
        var (users, user, _) = await SignInAsync("admin");
        await UserAccounts.DisableAsync(users, user);
        for (var i = 0; i < 3; i++)
        {
            await users.AccessFailedAsync(user);
        }

        var password = await UserAccounts.ResetPasswordAsync(users, " admin ");

        await using var scope = _services.CreateAsyncScope();
        var fresh = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var reset = (await fresh.FindByNameAsync("admin"))!;
        Assert.True(await fresh.CheckPasswordAsync(reset, password));
        Assert.False(await fresh.CheckPasswordAsync(reset, "Old-Password-1234"));
        Assert.True(reset.MustChangePassword);
        Assert.False(UserAccounts.IsDisabled(reset));
        Assert.False(await fresh.IsLockedOutAsync(reset));
        Assert.Equal(0, await fresh.GetAccessFailedCountAsync(reset));

        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => UserAccounts.ResetPasswordAsync(users, "nobody"));
        Assert.Contains("There is no user 'nobody'", missing.Message);
    }

    [DatabaseFact]
    public async Task The_reset_password_command_prints_the_password_and_says_what_was_wrong()
    {
        await SignInAsync("admin");
        string[] config = [$"--Portal:KeysDirectory={Options.KeysDirectory}", "--Portal:LocalAgentSocket=", .. _database.Arguments];

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await AccountCommands.RunAsync(["reset-password", "admin", .. config], output, error));
        var password = System.Text.RegularExpressions.Regex.Match(output.ToString(), "new one-time password (\\S+)").Groups[1].Value;
        await using (var scope = _services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            var admin = (await users.FindByNameAsync("admin"))!;
            Assert.True(await users.CheckPasswordAsync(admin, password));
            Assert.True(admin.MustChangePassword);
        }

        Assert.Equal(1, await AccountCommands.RunAsync(["reset-password", "nobody", .. config], output, error));
        Assert.Contains("There is no user 'nobody'", error.ToString());
        Assert.Equal(2, await AccountCommands.RunAsync(["reset-password"], output, error));
        Assert.Contains("usage: reset-password <user>", error.ToString());

        Assert.Equal(0, await AccountCommands.RunAsync(["disable-user", "admin", .. config], output, error));
        Assert.Contains("User 'admin' is disabled", output.ToString());
        await using (var scope = _services.CreateAsyncScope())
        {
            Assert.True(UserAccounts.IsDisabled((await scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>().FindByNameAsync("admin"))!));
        }

        Assert.Equal(1, await AccountCommands.RunAsync(["disable-user", "nobody", .. config], output, error));
        Assert.Equal(1, await AccountCommands.RunAsync(["reset-password", "admin", $"--Portal:KeysDirectory={Options.KeysDirectory}", .. _database.MissingArguments], output, error));
        Assert.Contains("does not exist: start the portal once", error.ToString());
    }

    [DatabaseFact]
    public async Task Add_user_and_set_admin_make_users_and_administrators_and_end_their_sessions()
    {
        await SignInAsync("admin");
        string[] config = [$"--Portal:KeysDirectory={Options.KeysDirectory}", "--Portal:LocalAgentSocket=", .. _database.Arguments];
        var output = new StringWriter();
        var error = new StringWriter();
        ClaimsPrincipal session;

        Assert.Equal(0, await AccountCommands.RunAsync(["add-user", "ann", .. config], output, error));
        var password = System.Text.RegularExpressions.Regex.Match(output.ToString(), "one-time password (\\S+)").Groups[1].Value;
        Assert.Equal(1, await AccountCommands.RunAsync(["add-user", "ann", .. config], output, error));
        Assert.Contains("There is already a user 'ann'", error.ToString());
        Assert.Equal(2, await AccountCommands.RunAsync(["set-admin", "ann", "maybe", .. config], output, error));
        Assert.Contains("usage: set-admin <user> yes|no", error.ToString());

        await using (var scope = _services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            var ann = (await users.FindByNameAsync("ann"))!;
            Assert.False(ann.IsAdministrator);
            Assert.True(ann.MustChangePassword);
            Assert.True(await users.CheckPasswordAsync(ann, password));
            session = await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<PortalUser>>().CreateAsync(ann);
            Assert.False(PortalRoles.IsAdministrator(session));
        }

        Assert.Equal(0, await AccountCommands.RunAsync(["set-admin", "ann", "yes", .. config], output, error));

        await using (var scope = _services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            Assert.False(await UserAccounts.IsStillValidAsync(users, session)); // the old session (not an administrator) ends
            var ann = (await users.FindByNameAsync("ann"))!;
            Assert.True(ann.IsAdministrator);
            Assert.True(PortalRoles.IsAdministrator(await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<PortalUser>>().CreateAsync(ann)));
            Assert.False((await users.FindByNameAsync("admin"))!.IsAdministrator); // made here, not by the first start
        }

        // The last administrator cannot be demoted: someone must be left to manage the portal.
        Assert.Equal(1, await AccountCommands.RunAsync(["set-admin", "ann", "no", .. config], output, error));
        Assert.Contains("'ann' is the last administrator", error.ToString());
    }

    private async Task<(UserManager<PortalUser> Users, PortalUser User, ClaimsPrincipal Session)> SignInAsync(string name)
    {
        var scope = _services.CreateScope(); // disposed with the provider
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = new PortalUser { UserName = name };
        Assert.True((await users.CreateAsync(user, "Old-Password-1234")).Succeeded);
        var session = await scope.ServiceProvider.GetRequiredService<IUserClaimsPrincipalFactory<PortalUser>>().CreateAsync(user);
        return (users, user, session);
    }
}
