using System.Net;
using System.Text.Json;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The real portal process signing users in through OpenID Connect against <see cref="TestOidcProvider"/> (discovery,
/// code flow with PKCE, signed id_tokens), the browser's redirects followed by hand with one cookie jar per user. It
/// starts processes, so it belongs to the integration tier.
/// </summary>
[Trait("Requires", "root")]
public sealed class PortalOidcTests(PortalOidcTests.Portal portal) : IClassFixture<PortalOidcTests.Portal>
{
    [RootFact]
    public async Task A_new_user_is_made_a_non_administrator_and_lands_signed_in_through_the_code_flow_with_PKCE()
    {
        using var browser = portal.Browser();
        var login = await (await browser.GetAsync("account/login")).Content.ReadAsStringAsync();
        Assert.Contains("Sign in with Test IdP", login);
        Assert.Contains("User name", login); // local sign-in stays

        var landed = await portal.SignInAsync(browser, new TestOidcUser("sub-carol", "carol"), "/containers");
        Assert.Equal(HttpStatusCode.OK, landed.StatusCode);
        Assert.Contains("url=/containers", await landed.Content.ReadAsStringAsync()); // a new navigation, so the Strict cookie goes along
        Assert.Equal("S256", portal.Provider.LastAuthorize!["code_challenge_method"]);
        Assert.Contains("openid", portal.Provider.LastAuthorize["scope"].ToString().Split(' '));

        var home = await browser.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, home.StatusCode);
        Assert.Contains("href=\"team\"", await home.Content.ReadAsStringAsync());
        var hosts = await browser.GetAsync("hosts");
        Assert.StartsWith("/account/access-denied", hosts.Headers.Location!.PathAndQuery);

        // Signed in again later, it is the same user (found by the provider's subject), still no administrator.
        using var again = portal.Browser();
        Assert.Equal(HttpStatusCode.OK, (await portal.SignInAsync(again, new TestOidcUser("sub-carol", "carol"))).StatusCode);
        var entries = await portal.AuditAsync(e => e.GetProperty("action").GetString() == "auth.sign-in" && e.GetProperty("user").GetString() == "carol", 2);
        Assert.All(entries, e =>
        {
            Assert.Equal("Allowed", e.GetProperty("decision").GetString());
            Assert.Equal("Test IdP", e.GetProperty("details").GetProperty("provider").GetString());
        });
        Assert.Single(await portal.AuditAsync(e => e.GetProperty("action").GetString() == "user.create" && e.GetProperty("target").GetProperty("name").GetString() == "carol", 1));
    }

    [RootFact]
    public async Task The_administrators_group_makes_an_administrator_and_leaving_it_demotes_at_the_next_sign_in()
    {
        using var admin = portal.Browser();
        Assert.Equal(HttpStatusCode.OK, (await portal.SignInAsync(admin, new TestOidcUser("sub-dave", "dave", "staff", "portal-admins"))).StatusCode);
        var hosts = await admin.GetAsync("hosts");
        Assert.Equal(HttpStatusCode.OK, hosts.StatusCode);
        Assert.Contains("Add an agent", await hosts.Content.ReadAsStringAsync());

        // Out of the group at the provider: the next sign-in demotes dave, and his open session ends (a new security stamp).
        using var demoted = portal.Browser();
        Assert.Equal(HttpStatusCode.OK, (await portal.SignInAsync(demoted, new TestOidcUser("sub-dave", "dave", "staff"))).StatusCode);
        Assert.StartsWith("/account/access-denied", (await demoted.GetAsync("hosts")).Headers.Location!.PathAndQuery);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await admin.GetAsync("hosts")).StatusCode == HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "dave's administrator session did not end after he left the group");
            await Task.Delay(100);
        }
    }

    [RootFact]
    public async Task A_disabled_user_is_refused_and_the_refusal_is_audited()
    {
        using var first = portal.Browser();
        Assert.Equal(HttpStatusCode.OK, (await portal.SignInAsync(first, new TestOidcUser("sub-erin", "erin"))).StatusCode);
        await portal.RunCommandAsync("disable-user", "erin");

        using var browser = portal.Browser();
        var refused = await portal.SignInAsync(browser, new TestOidcUser("sub-erin", "erin"));
        Assert.Equal("/account/login?oidc=disabled", refused.RequestMessage!.RequestUri!.PathAndQuery);
        Assert.Contains("This account is disabled", await refused.Content.ReadAsStringAsync());
        Assert.StartsWith("/account/login", (await browser.GetAsync("")).Headers.Location!.PathAndQuery);
        var denied = Assert.Single(await portal.AuditAsync(e => e.GetProperty("action").GetString() == "auth.sign-in" && e.GetProperty("user").GetString() == "erin"
            && e.GetProperty("decision").GetString() == "Denied", 1));
        Assert.Equal("The account is disabled.", denied.GetProperty("reason").GetString());
    }

    [RootFact]
    public async Task A_provider_user_named_like_a_local_account_is_refused_with_the_reason()
    {
        await portal.RunCommandAsync("add-user", "frank");
        using var browser = portal.Browser();
        var refused = await portal.SignInAsync(browser, new TestOidcUser("sub-frank-at-idp", "frank", "portal-admins"));
        Assert.Equal("/account/login?oidc=local-account", refused.RequestMessage!.RequestUri!.PathAndQuery);
        Assert.Contains("A local portal account has the same user name as your Test IdP account", await refused.Content.ReadAsStringAsync());
        Assert.StartsWith("/account/login", (await browser.GetAsync("")).Headers.Location!.PathAndQuery);
        var denied = Assert.Single(await portal.AuditAsync(e => e.GetProperty("action").GetString() == "auth.sign-in" && e.GetProperty("user").GetString() == "frank"
            && e.GetProperty("decision").GetString() == "Denied", 1));
        Assert.Contains("LinkLocalAccounts is off", denied.GetProperty("reason").GetString());
    }

    [RootFact]
    public async Task A_provider_that_refuses_leads_back_to_the_sign_in_page()
    {
        using var browser = portal.Browser();
        var refused = await portal.SignInAsync(browser, null); // the provider answers access_denied
        Assert.Equal("/account/login?oidc=failed", refused.RequestMessage!.RequestUri!.PathAndQuery);
        Assert.Contains("Signing in with Test IdP did not succeed", await refused.Content.ReadAsStringAsync());
    }

    /// <summary>The test provider and the portal configured against it, shared by the tests (each uses its own users).</summary>
    public class Portal : IAsyncLifetime
    {
        private readonly SemaphoreSlim _signIn = new(1, 1);
        private PortalProcess? _process;

        public TestOidcProvider Provider { get; } = new("portal", "portal-secret");

        /// <summary>Where the portal looks for its provider.</summary>
        protected virtual string Authority => Provider.Authority;

        private PortalProcess Process => _process ?? throw new InvalidOperationException("The portal has not started.");

        public async Task InitializeAsync()
        {
            if (!RootOnly.IsRoot)
            {
                return;
            }

            await Provider.StartAsync();
            _process = new PortalProcess(Directory.CreateTempSubdirectory("portal-oidc-").FullName, new Dictionary<string, string>
            {
                ["Portal__UserRevalidationInterval"] = "00:00:00.500",
                ["Portal__Oidc__Authority"] = Authority,
                ["Portal__Oidc__ClientId"] = Provider.ClientId,
                ["Portal__Oidc__ClientSecret"] = Provider.ClientSecret,
                ["Portal__Oidc__DisplayName"] = "Test IdP",
                ["Portal__Oidc__AdministratorsClaim"] = "groups",
                ["Portal__Oidc__AdministratorsValue"] = "portal-admins",
            });
            await _process.StartAsync(waitForPasswordFile: false);
        }

        public async Task DisposeAsync()
        {
            if (_process is not null)
            {
                await _process.DisposeAsync();
                Directory.Delete(_process.Directory, recursive: true);
            }

            await Provider.DisposeAsync();
            _signIn.Dispose();
        }

        /// <summary>A browser of its own: a cookie jar, redirects followed by <see cref="SignInAsync"/>.</summary>
        public HttpClient Browser() => Process.Browser();

        /// <summary>
        /// Clicks "Sign in with ..." as <paramref name="user"/> at the provider (null: the provider refuses) and follows
        /// the redirects to the page they end on: the portal's landing page, or the sign-in page with the refusal.
        /// </summary>
        public async Task<HttpResponseMessage> SignInAsync(HttpClient browser, TestOidcUser? user, string returnUrl = "/")
        {
            // One at a time: the provider signs in whoever is next.
            await _signIn.WaitAsync();
            try
            {
                Provider.NextUser = user;
                var response = await browser.GetAsync($"account/oidc?returnUrl={Uri.EscapeDataString(returnUrl)}");
                for (var hops = 0; response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Found or HttpStatusCode.SeeOther; hops++)
                {
                    Assert.True(hops < 10, "More than 10 redirects");
                    var next = new Uri(response.RequestMessage!.RequestUri!, response.Headers.Location!);
                    response.Dispose();
                    response = await browser.GetAsync(next);
                }

                return response;
            }
            finally
            {
                _signIn.Release();
            }
        }

        /// <summary>The portal's audit trail (its JSON Lines files) once at least <paramref name="count"/> entries match.</summary>
        public Task<List<JsonElement>> AuditAsync(Func<JsonElement, bool> match, int count) => Process.AuditAsync(match, count);

        /// <summary>The portal's command mode (deploy/portal add-user, disable-user) on this portal's database.</summary>
        public Task RunCommandAsync(string command, string user) => Process.RunCommandAsync(command, user);
    }
}

/// <summary>A provider the portal cannot reach: the sign-in page says so instead of an error page, and the audit has why.</summary>
[Trait("Requires", "root")]
public sealed class PortalOidcUnreachableProviderTests(PortalOidcUnreachableProviderTests.Portal portal) : IClassFixture<PortalOidcUnreachableProviderTests.Portal>
{
    [RootFact]
    public async Task An_unreachable_provider_leads_back_to_the_sign_in_page_with_the_reason_audited()
    {
        using var browser = portal.Browser();
        var refused = await portal.SignInAsync(browser, new TestOidcUser("sub-gina", "gina"));
        Assert.Equal("/account/login?oidc=unreachable", refused.RequestMessage!.RequestUri!.PathAndQuery);
        Assert.Contains("Test IdP cannot be reached right now", await refused.Content.ReadAsStringAsync());
        var denied = Assert.Single(await portal.AuditAsync(e => e.GetProperty("action").GetString() == "auth.sign-in" && e.GetProperty("decision").GetString() == "Denied", 1));
        Assert.StartsWith("The provider could not be reached", denied.GetProperty("reason").GetString());
    }

    /// <summary>The portal configured against a loopback port nobody listens on.</summary>
    public sealed class Portal : PortalOidcTests.Portal
    {
        private readonly string _deadAuthority = $"http://127.0.0.1:{FreeTcpPort.Next()}";

        protected override string Authority => _deadAuthority;
    }
}
