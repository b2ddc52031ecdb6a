using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The real portal process on a private port, database and key ring: nothing for anonymous visitors, the first-run
/// administrator's one-time password handed over in a 0600 file (never on the output), and a forced password change before anything else. It starts a
/// process, so it belongs to the integration tier (<see cref="RootFactAttribute"/>).
/// </summary>
[Trait("Requires", "root")]
public sealed partial class PortalSignInTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-signin-").FullName;
    private readonly List<string> _output = [];
    private readonly CookieContainer _cookies = new();
    private Process? _portal;
    private HttpClient _http = null!;
    private string? _password;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        var port = FreeTcpPort.Next();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.Web.dll"));
        psi.Environment["Portal__Url"] = $"http://127.0.0.1:{port}";
        psi.Environment["Portal__Database"] = Path.Combine(_directory, "portal.db");
        psi.Environment["Portal__KeysDirectory"] = Path.Combine(_directory, "keys");
        psi.Environment["Portal__LocalAgentSocket"] = "";
        psi.Environment["Portal__UserRevalidationInterval"] = "00:00:00.500";
        _portal = Process.Start(psi)!;
        _portal.OutputDataReceived += (_, line) => Keep(line.Data);
        _portal.ErrorDataReceived += (_, line) => Keep(line.Data);
        _portal.BeginOutputReadLine();
        _portal.BeginErrorReadLine();
        _http = new HttpClient(new HttpClientHandler { CookieContainer = _cookies, AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(_portal.HasExited, $"The portal exited while starting:\n{string.Join('\n', _output)}");
            try
            {
                await _http.GetAsync("account/login");
                _password = File.Exists(PasswordFile) ? (await File.ReadAllTextAsync(PasswordFile)).Trim() : null;
                if (_password is not null)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"The portal did not start within 60 s:\n{string.Join('\n', _output)}");
            await Task.Delay(200);
        }
    }

    private string PasswordFile => Path.Combine(_directory, "first-admin-password");

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            Directory.Delete(_directory, recursive: true);
            return;
        }

        if (_portal is { HasExited: false })
        {
            _portal.Kill();
            await _portal.WaitForExitAsync();
        }

        _portal?.Dispose();
        _http.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [RootFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_one_time_password_is_in_a_0600_file_and_never_on_the_output()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PasswordFile));
        // The log line that says where it is may reach the reader a moment after the portal answers.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Output.Contains(PasswordFile, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains(PasswordFile, Output);
        Assert.DoesNotContain(_password!, Output);
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

    /// <summary>The portal's command mode, as deploy/portal runs it, on this portal's database and key ring.</summary>
    private async Task<(string Output, string Errors)> RunCommandAsync(string command, string user, params string[] more)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.Web.dll"));
        psi.ArgumentList.Add(command);
        psi.ArgumentList.Add(user);
        foreach (var argument in more)
        {
            psi.ArgumentList.Add(argument);
        }
        psi.Environment["Portal__Database"] = Path.Combine(_directory, "portal.db");
        psi.Environment["Portal__KeysDirectory"] = Path.Combine(_directory, "keys");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{command} exited with {process.ExitCode}: {await stderr}");
        return (await stdout, await stderr);
    }

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

    private async Task<HttpResponseMessage> PostFormAsync(string path, string handler, Dictionary<string, string> fields)
    {
        var form = await (await _http.GetAsync(path)).Content.ReadAsStringAsync();
        fields["_handler"] = handler;
        fields["__RequestVerificationToken"] = AntiforgeryToken().Match(form).Groups[1].Value;
        return await _http.PostAsync(path, new FormUrlEncodedContent(fields));
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
