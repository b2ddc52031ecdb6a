using System.Security.Claims;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Portal.Web.Account;
using Portal.Web.Data;
using Portal.Web.Tests.Data;

namespace Portal.Web.Tests.Account;

/// <summary>Which portal user a provider sign-in gets (unit tier: Identity on a private SQLite file, no process).</summary>
public sealed class OidcAccountsTests : IAsyncLifetime
{
    private readonly TestDatabase _database = TestDatabase.Sqlite();
    private ServiceProvider _services = null!;
    private AsyncServiceScope _scope;

    private static PortalOidcOptions Options(bool link = false) => new()
    {
        Authority = "https://idp.example.com",
        ClientId = "portal",
        AdministratorsClaim = "groups",
        AdministratorsValue = "portal-admins",
        LinkLocalAccounts = link,
    };

    private UserManager<PortalUser> Users => _scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        _database.Storage.AddTo(services);
        services.AddIdentityCore<PortalUser>(PortalServices.IdentityRules).AddEntityFrameworkStores<PortalDbContext>().AddDefaultTokenProviders();
        _services = services.BuildServiceProvider();
        _scope = _services.CreateAsyncScope();
        await PortalMigrations.MigrateAsync(_scope.ServiceProvider.GetRequiredService<PortalDbContext>(), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _scope.DisposeAsync();
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    private static (UserLoginInfo Login, ClaimsPrincipal Principal) At(string sub, string? name, params string[] groups)
    {
        var claims = new List<Claim> { new("sub", sub) };
        if (name is not null)
        {
            claims.Add(new("preferred_username", name));
        }

        claims.AddRange(groups.Select(g => new Claim("groups", g)));
        return (new UserLoginInfo("oidc", sub, "Test IdP"), new ClaimsPrincipal(new ClaimsIdentity(claims, "oidc")));
    }

    private async Task<OidcAccount> SignInAsync((UserLoginInfo Login, ClaimsPrincipal Principal) at, bool link = false) =>
        await OidcAccounts.FindOrCreateAsync(Users, at.Login, at.Principal, Options(link));

    [Fact]
    public async Task A_first_sign_in_makes_a_user_with_no_password_found_again_by_its_subject()
    {
        var first = await SignInAsync(At("s-1", "ann"));
        Assert.Null(first.Refusal);
        Assert.Equal("ann", first.User!.UserName);
        Assert.False(first.User.IsAdministrator);
        Assert.False(await Users.HasPasswordAsync(first.User));

        // Renamed at the provider: still the same portal user (teams know it by its portal name).
        var renamed = await SignInAsync(At("s-1", "ann.smith"));
        Assert.Equal(first.User.Id, renamed.User!.Id);
        Assert.Equal("ann", renamed.UserName);
    }

    [Fact]
    public async Task The_administrators_claim_promotes_and_demotes_at_every_sign_in_with_a_new_security_stamp()
    {
        var admin = await SignInAsync(At("s-2", "bob", "staff", "portal-admins"));
        Assert.True(admin.User!.IsAdministrator);
        var stamp = await Users.GetSecurityStampAsync(admin.User);

        var demoted = await SignInAsync(At("s-2", "bob", "staff"));
        Assert.False(demoted.User!.IsAdministrator);
        Assert.NotEqual(stamp, await Users.GetSecurityStampAsync(demoted.User));

        // Unchanged: the stamp stays, so the user's other sessions go on.
        stamp = await Users.GetSecurityStampAsync(demoted.User);
        await SignInAsync(At("s-2", "bob"));
        Assert.Equal(stamp, await Users.GetSecurityStampAsync((await Users.FindByNameAsync("bob"))!));
    }

    [Fact]
    public async Task A_local_account_of_the_same_name_is_refused_unless_linking_is_allowed()
    {
        Assert.True((await Users.CreateAsync(new PortalUser { UserName = "carol" }, "Correct-Horse-42")).Succeeded);
        var refused = await SignInAsync(At("s-3", "carol", "portal-admins"));
        Assert.Equal(OidcSignIn.Refusal.LocalAccount, refused.Refusal);
        Assert.Contains("LinkLocalAccounts is off", refused.Reason);
        var local = (await Users.FindByNameAsync("carol"))!;
        Assert.Empty(await Users.GetLoginsAsync(local));
        Assert.False(local.IsAdministrator);

        var linked = await SignInAsync(At("s-3", "carol", "portal-admins"), link: true);
        Assert.Null(linked.Refusal);
        Assert.Equal(local.Id, linked.User!.Id);
        Assert.True(linked.User.IsAdministrator);
        Assert.True(await Users.HasPasswordAsync(linked.User)); // it signs in either way
        Assert.Single(await Users.GetLoginsAsync(linked.User));
    }

    /// <summary>
    /// LinkLocalAccounts hands a local account to the provider user of its name; a portal user that is already another
    /// provider subject's (made or linked at that subject's first sign-in) is not a local account. A user name at the
    /// provider can change hands (a rename, a reused name): the new holder of the name must not get the old one's user.
    /// </summary>
    [Fact]
    public async Task A_user_linked_to_one_provider_subject_is_never_handed_to_another_of_the_same_name()
    {
        var ann = await SignInAsync(At("s-6", "ann", "portal-admins"));
        Assert.True(ann.User!.IsAdministrator);

        foreach (var link in new[] { false, true })
        {
            var impostor = await SignInAsync(At("s-7", "ann"), link);
            Assert.Equal(OidcSignIn.Refusal.TakenByAnother, impostor.Refusal);
            Assert.Contains("another", impostor.Reason);
        }

        var user = (await Users.FindByNameAsync("ann"))!;
        Assert.Equal("s-6", Assert.Single(await Users.GetLoginsAsync(user)).ProviderKey);
        Assert.True(user.IsAdministrator);
        Assert.Null((await SignInAsync(At("s-6", "ann.smith", "portal-admins"))).Refusal); // the subject it belongs to still signs in
    }

    [Fact]
    public async Task A_disabled_user_and_a_sign_in_without_a_name_are_refused()
    {
        var dave = await SignInAsync(At("s-4", "dave"));
        await UserAccounts.DisableAsync(Users, dave.User!);
        var refused = await SignInAsync(At("s-4", "dave", "portal-admins"));
        Assert.Equal(OidcSignIn.Refusal.Disabled, refused.Refusal);
        Assert.False((await Users.FindByNameAsync("dave"))!.IsAdministrator); // a refused sign-in changes nothing

        // No preferred_username: the subject names the user.
        Assert.Equal("s-5", (await SignInAsync(At("s-5", null))).User!.UserName);
        var nameless = await OidcAccounts.FindOrCreateAsync(Users, new UserLoginInfo("oidc", "x", "Test IdP"), new ClaimsPrincipal(new ClaimsIdentity([new Claim("name", "Eve")], "oidc")), Options());
        Assert.Equal(OidcSignIn.Refusal.NoUserName, nameless.Refusal);
    }
}
