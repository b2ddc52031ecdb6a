using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Audit;
using Portal.Web.Data;

namespace Portal.Web.Tests.Audit;

/// <summary>
/// The portal's sign-ins and account changes recorded by Identity's managers as the portal registers them (unit tier:
/// Identity on a private SQLite file, a request made by hand, no process).
/// </summary>
public sealed class PortalAccountAuditTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-account-audit-").FullName;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        var options = new PortalOptions { Database = Path.Combine(_directory, "portal.db"), KeysDirectory = Path.Combine(_directory, "keys") };
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        services.AddSingleton<Portal.Web.Hosts.HostRegistry>();
        services.AddSingleton<IAgentClientFactory>(new Fakes.FakeAgentClientFactory());
        services.AddSingleton<Portal.Web.Hosts.Fleet>();
        PortalStorage.Sqlite(options.Database).AddTo(services);
        services.AddAuthentication(IdentityConstants.ApplicationScheme).AddIdentityCookies();
        services.AddIdentityCore<PortalUser>(PortalServices.IdentityRules)
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddSignInManager()
            .AddClaimsPrincipalFactory<PortalClaims>()
            .AddDefaultTokenProviders();
        services.AddPortalAudit(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Portal:AuditDirectory"] = Path.Combine(_directory, "audit") }).Build());
        _services = services.BuildServiceProvider();
        await using var scope = _services.CreateAsyncScope();
        await PortalMigrations.MigrateAsync(scope.ServiceProvider.GetRequiredService<PortalDbContext>(), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Sign_ins_sign_outs_and_account_changes_are_entries_with_the_user_and_the_source()
    {
        var log = _services.GetRequiredService<PortalAuditLog>();
        await using (var scope = _services.CreateAsyncScope())
        {
            // Outside a request (the first start, the host's command line): the portal's host acts.
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            Assert.IsType<AuditingUserManager>(users);
            Assert.True((await users.CreateAsync(new PortalUser { UserName = "ann" }, "Correct-Horse-42")).Succeeded);
        }

        await using (var scope = _services.CreateAsyncScope())
        {
            var http = Request(scope, "192.0.2.7", 50123);
            var signIn = scope.ServiceProvider.GetRequiredService<SignInManager<PortalUser>>();
            Assert.False((await signIn.PasswordSignInAsync("ann", "wrong-password", false, true)).Succeeded);
            Assert.False((await signIn.PasswordSignInAsync("nobody", "wrong-password", false, true)).Succeeded);
            Assert.True((await signIn.PasswordSignInAsync("ann", "Correct-Horse-42", false, true)).Succeeded);

            // Signed in: the request's user acts.
            http.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ann")], "test"));
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            var ann = (await users.FindByNameAsync("ann"))!;
            Assert.False((await users.ChangePasswordAsync(ann, "not-it", "Battery-Staple-7")).Succeeded);
            Assert.True((await users.ChangePasswordAsync(ann, "Correct-Horse-42", "Battery-Staple-7")).Succeeded);
            await signIn.SignOutAsync();
            scope.ServiceProvider.GetRequiredService<IHttpContextAccessor>().HttpContext = null; // the request ends
        }

        await using (var scope = _services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            await UserAccounts.DisableAsync(users, (await users.FindByNameAsync("ann"))!);
        }

        var entries = log.Read(AuditSearch.All, 100).Entries.Reverse().ToList();
        Assert.Equal(
            ["user.create", "auth.sign-in", "auth.sign-in", "auth.sign-in", "user.change-password", "user.change-password", "auth.sign-out", "user.disable"],
            entries.Select(e => e.Action));
        Assert.All(entries, e => Assert.Equal((AuditEntryPoint.Portal, "portal", "user"), (e.EntryPoint, e.Target!.Host, e.Target.Type)));
        Assert.Equal((AuditActorKind.Agent, (string?)null, "ann"), (entries[0].Actor.Kind, entries[0].Source, entries[0].Target!.Name));
        Assert.Equal((AuditDecision.Denied, AuditResult.NotRun, "authentication", "Wrong password.", "192.0.2.7:50123", "ann"),
            (entries[1].Decision, entries[1].Result, entries[1].Rule, entries[1].Reason, entries[1].Source, entries[1].User));
        Assert.Equal((AuditActorKind.Anonymous, "There is no such user.", "nobody", (string?)null), (entries[2].Actor.Kind, entries[2].Reason, entries[2].Target!.Name, entries[2].Target!.Id));
        Assert.Equal((AuditActorKind.PortalUser, "ann", AuditDecision.Allowed, AuditResult.Ok), (entries[3].Actor.Kind, entries[3].Actor.Name, entries[3].Decision, entries[3].Result));
        Assert.Equal((AuditDecision.Denied, "The current password was wrong.", "ann"), (entries[4].Decision, entries[4].Reason, entries[4].Actor.Name));
        Assert.Equal((AuditDecision.Allowed, AuditResult.Ok), (entries[5].Decision, entries[5].Result));
        Assert.Equal(("ann", "192.0.2.7:50123"), (entries[6].Actor.Name, entries[6].Source));
        Assert.Equal(AuditActorKind.Agent, entries[7].Actor.Kind);
    }

    private static DefaultHttpContext Request(AsyncServiceScope scope, string ip, int port)
    {
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        http.Connection.RemoteIpAddress = IPAddress.Parse(ip);
        http.Connection.RemotePort = port;
        scope.ServiceProvider.GetRequiredService<IHttpContextAccessor>().HttpContext = http;
        return http;
    }
}
