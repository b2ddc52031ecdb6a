using System.Net;
using System.Text.RegularExpressions;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The real portal process on a private port, database and key ring: nothing for anonymous visitors, the first-run
/// administrator's one-time password handed over in a 0600 file (never on the output), and a forced password change before anything else. It starts a
/// process, so it belongs to the integration tier (<see cref="RootFactAttribute"/>).
/// </summary>
[Trait("Requires", "root")]
public sealed class PortalSignInTests : IAsyncLifetime
{
    private readonly PortalProcess _portal = new(Directory.CreateTempSubdirectory("portal-signin-").FullName, new Dictionary<string, string>
    {
        ["Portal__UserRevalidationInterval"] = "00:00:00.500",
    });

    private readonly CookieContainer _cookies = new();
    private HttpClient _http = null!;
    private string? _password;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        await _portal.StartAsync();
        _http = _portal.Browser(_cookies);
        _password = (await File.ReadAllTextAsync(PasswordFile)).Trim();
    }

    private string PasswordFile => _portal.PasswordFile;

    public async Task DisposeAsync()
    {
        await _portal.DisposeAsync();
        _http?.Dispose();
        Directory.Delete(_portal.Directory, recursive: true);
    }

    [RootFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_one_time_password_is_in_a_0600_file_and_never_on_the_output()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PasswordFile));
        // The log line that says where it is may reach the reader a moment after the portal answers.
        await _portal.WaitForOutputAsync(PasswordFile);
        Assert.DoesNotContain(_password!, _portal.Output);
    }

    [RootFact]
    public async Task Anonymous_visitors_see_nothing_and_the_first_admin_must_change_the_one_time_password()
    {
        foreach (var path in new[] { "", "hosts", "images", "containers/x/y", "terminal", "demo" })
        {
            var anonymous = await _http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
            Assert.StartsWith("/account/login", anonymous.Headers.Location!.PathAndQuery);
        }

        var wrong = await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = "not-the-password" });
        Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
        Assert.Contains("Wrong user name or password", await wrong.Content.ReadAsStringAsync());

        var signedIn = await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = _password! });
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);

        // With the one-time password, every page leads to changing it, whatever its path looks like; static assets pass.
        foreach (var path in new[] { "", "containers/a.b", "hosts.json", "terminal/x.css" })
        {
            var before = await _http.GetAsync(path);
            Assert.True(before.StatusCode == HttpStatusCode.Redirect, $"{path}: {(int)before.StatusCode}");
            Assert.Equal("/account/change-password", before.Headers.Location!.OriginalString);
        }

        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("app.css")).StatusCode);

        var weak = await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = _password!, ["Input.New"] = "short", ["Input.Confirm"] = "short" });
        Assert.Contains("at least 12 characters", await weak.Content.ReadAsStringAsync());

        var changed = await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = _password!, ["Input.New"] = "Correct-Horse-42", ["Input.Confirm"] = "Correct-Horse-42" });
        Assert.Equal(HttpStatusCode.Redirect, changed.StatusCode);
        Assert.False(File.Exists(PasswordFile)); // the dead one-time password does not stay behind

        var page = await _http.GetAsync("hosts");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Add an agent", await page.Content.ReadAsStringAsync());

        // The one-time password no longer works; the new one does.
        _cookies.GetAllCookies().ToList().ForEach(c => c.Expired = true);
        Assert.Equal(HttpStatusCode.OK, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = _password! })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = "Correct-Horse-42" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("")).StatusCode);
    }

    [RootFact]
    public async Task Disable_and_reset_password_on_the_host_end_the_users_sessions_and_force_a_new_change()
    {
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = _password! })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = _password!, ["Input.New"] = "Correct-Horse-42", ["Input.Confirm"] = "Correct-Horse-42" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("hosts")).StatusCode);

        // What `./deploy/portal disable-user admin` runs, on the same database and key ring, while the portal runs.
        var (disabled, _) = await RunCommandAsync("disable-user", "admin");
        Assert.Contains("User 'admin' is disabled", disabled);
        await SessionEndsAsync();
        var refused = await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = "Correct-Horse-42" });
        Assert.Equal(HttpStatusCode.OK, refused.StatusCode);
        Assert.Contains("This account is disabled", await refused.Content.ReadAsStringAsync());

        // `./deploy/portal reset-password admin`: enabled again, with a one-time password.
        var (reset, errors) = await RunCommandAsync("reset-password", "admin");
        var password = Regex.Match(reset, "new one-time password (\\S+)").Groups[1].Value;
        Assert.NotEmpty(password);
        Assert.DoesNotContain(password, errors);

        // The old password is gone; the new one is a one-time password again.
        Assert.Equal(HttpStatusCode.OK, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = "Correct-Horse-42" })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = password })).StatusCode);
        Assert.Equal("/account/change-password", (await _http.GetAsync("hosts")).Headers.Location!.OriginalString);

        // A reset also ends the sessions opened before it.
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = password, ["Input.New"] = "Battery-Staple-7", ["Input.Confirm"] = "Battery-Staple-7" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("hosts")).StatusCode);
        await RunCommandAsync("reset-password", "admin");
        await SessionEndsAsync();
    }

    /// <summary>
    /// Sign-out is a form post outside Blazor's forms: without the page's anti-forgery token it is refused. SameSite=Strict
    /// keeps the cookie from other sites, but not from another origin of the same site (a sibling subdomain, another port).
    /// </summary>
    [RootFact]
    public async Task Sign_out_needs_the_pages_anti_forgery_token()
    {
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = _password! })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = _password!, ["Input.New"] = "Correct-Horse-42", ["Input.Confirm"] = "Correct-Horse-42" })).StatusCode);

        var forged = await _http.PostAsync("account/logout", new FormUrlEncodedContent(new Dictionary<string, string>()));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("hosts")).StatusCode); // still signed in

        var token = PortalProcess.AntiforgeryTokenOf(await (await _http.GetAsync("")).Content.ReadAsStringAsync());
        var signedOut = await _http.PostAsync("account/logout", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }));
        Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
        Assert.StartsWith("/account/login", (await _http.GetAsync("hosts")).Headers.Location!.PathAndQuery);
    }

    [RootFact]
    public async Task A_user_who_is_not_an_administrator_gets_no_host_admin_pages_until_made_one()
    {
        var (added, _) = await RunCommandAsync("add-user", "ann");
        var password = Regex.Match(added, "one-time password (\\S+)").Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "ann", ["Input.Password"] = password })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = password, ["Input.New"] = "Correct-Horse-42", ["Input.Confirm"] = "Correct-Horse-42" })).StatusCode);

        var home = await (await _http.GetAsync("")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("href=\"hosts\"", home);
        Assert.Contains("href=\"team\"", home);
        Assert.Contains("This page is for portal administrators", await (await _http.GetAsync("account/access-denied")).Content.ReadAsStringAsync());
        foreach (var path in new[] { "hosts", "images", "switches", "teams", "users" })
        {
            var refused = await _http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
            Assert.StartsWith("/account/access-denied", refused.Headers.Location!.PathAndQuery);
        }

        // `./deploy/portal set-admin ann yes`: her session ends (a new security stamp); signed in again, she is one.
        await RunCommandAsync("set-admin", "ann", "yes");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await _http.GetAsync("hosts")).Headers.Location?.PathAndQuery.StartsWith("/account/login", StringComparison.Ordinal) != true)
        {
            Assert.True(DateTime.UtcNow < deadline, "ann's session did not end after set-admin");
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "ann", ["Input.Password"] = "Correct-Horse-42" })).StatusCode);
        Assert.Contains("Add an agent", await (await _http.GetAsync("hosts")).Content.ReadAsStringAsync());
    }

    private Task<(string Output, string Errors)> RunCommandAsync(params string[] arguments) => _portal.RunCommandAsync(arguments);

    /// <summary>The signed-in session is refused at its next check (every 0.5 s here): pages lead to the sign-in page.</summary>
    private async Task SessionEndsAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage after;
        while ((after = await _http.GetAsync("hosts")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.StartsWith("/account/login", after.Headers.Location!.PathAndQuery);
    }

    private Task<HttpResponseMessage> PostFormAsync(string path, string handler, Dictionary<string, string> fields) =>
        PortalProcess.PostFormAsync(_http, path, handler, fields);
}
