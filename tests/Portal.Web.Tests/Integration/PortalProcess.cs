using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The real portal (Portal.Web.dll, as deploy/portal runs it) as a process on a free loopback port, its database and key
/// ring in a directory of the test's, its output kept for failure messages. Its command mode (add-user, disable-user,
/// reset-password, set-admin) runs on the same database.
/// </summary>
public sealed partial class PortalProcess : IAsyncDisposable
{
    // All of it: a test checks that a secret never reaches the output.
    private readonly RecentOutput _output = new(int.MaxValue);
    private readonly Dictionary<string, string> _settings;
    private Process? _process;

    /// <param name="directory">Holds the database, the key ring, the one-time password file and the audit trail.</param>
    /// <param name="settings">More settings as environment variables (Portal__...), over the defaults: no local agent.</param>
    public PortalProcess(string directory, IReadOnlyDictionary<string, string>? settings = null)
    {
        Directory = directory;
        _settings = new()
        {
            ["Portal__Database"] = Path.Combine(directory, "portal.db"),
            ["Portal__KeysDirectory"] = Path.Combine(directory, "keys"),
            ["Portal__LocalAgentSocket"] = "",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }
    }

    public string Directory { get; }

    public Uri Url { get; } = new($"http://127.0.0.1:{FreeTcpPort.Next()}/");

    /// <summary>Where the first start leaves the first administrator's one-time password.</summary>
    public string PasswordFile => Path.Combine(Directory, "first-admin-password");

    /// <summary>All the portal wrote (standard output and error).</summary>
    public string Output => _output.ToString();

    /// <summary>Waits until the portal has written <paramref name="text"/> (its output is read as it comes, after it answers).</summary>
    public async Task WaitForOutputAsync(string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The portal did not write '{text}' within 30 s:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Starts the portal and waits until it serves its sign-in page and has written the one-time password file when it makes one.</summary>
    public async Task StartAsync(bool waitForPasswordFile = true)
    {
        var psi = Command();
        psi.Environment["Portal__Url"] = Url.ToString().TrimEnd('/');
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, line) => _output.Add(line.Data);
        _process.ErrorDataReceived += (_, line) => _output.Add(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = Browser();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            Assert.False(_process.HasExited, $"The portal exited while starting:\n{Output}");
            try
            {
                if ((await http.GetAsync("account/login")).StatusCode == HttpStatusCode.OK && (!waitForPasswordFile || File.Exists(PasswordFile)))
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"The portal did not start within 90 s:\n{Output}");
            await Task.Delay(200);
        }
    }

    /// <summary>A browser of its own: a cookie jar, redirects not followed (the tests look at them).</summary>
    public HttpClient Browser(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>The portal's command mode, as deploy/portal runs it, on this portal's database and key ring; it must succeed.</summary>
    public async Task<(string Output, string Errors)> RunCommandAsync(params string[] arguments)
    {
        var psi = Command();
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{arguments[0]} exited with {process.ExitCode}: {await stderr}{await stdout}");
        return (await stdout, await stderr);
    }

    /// <summary>The portal's own audit trail (its JSON Lines files), once at least <paramref name="count"/> entries match or 30 s passed.</summary>
    public async Task<List<JsonElement>> AuditAsync(Func<JsonElement, bool> match, int count)
    {
        var directory = Path.Combine(Directory, "portal-audit");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var entries = System.IO.Directory.Exists(directory)
                ? System.IO.Directory.GetFiles(directory, "portal-audit-*.jsonl").SelectMany(File.ReadAllLines).Where(l => l.Length > 0)
                    .Select(l => JsonDocument.Parse(l).RootElement).Where(match).ToList()
                : [];
            if (entries.Count >= count || DateTime.UtcNow > deadline)
            {
                return entries;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Fills in a page's form as a browser does (with its anti-forgery token) and posts it to <paramref name="handler"/>.</summary>
    public static async Task<HttpResponseMessage> PostFormAsync(HttpClient browser, string path, string handler, Dictionary<string, string> fields)
    {
        fields["_handler"] = handler;
        fields["__RequestVerificationToken"] = AntiforgeryTokenOf(await (await browser.GetAsync(path)).Content.ReadAsStringAsync());
        return await browser.PostAsync(path, new FormUrlEncodedContent(fields));
    }

    /// <summary>The anti-forgery token of a page's form.</summary>
    public static string AntiforgeryTokenOf(string page) => AntiforgeryToken().Match(page).Groups[1].Value;

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
    }

    private ProcessStartInfo Command()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.Web.dll"));
        foreach (var (key, value) in _settings)
        {
            psi.Environment[key] = value;
        }

        return psi;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
