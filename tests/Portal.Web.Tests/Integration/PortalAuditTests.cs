using System.Net;
using System.Text.Json;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Audit;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The real agent and the real portal (its local host is the agent's socket): the agent's audit client reads and streams
/// the trail, and the portal's export merges the agent's entries with its own sign-ins and account changes. It starts
/// processes, so it belongs to the integration tier (<see cref="RootFactAttribute"/>).
/// </summary>
[Trait("Requires", "root")]
public sealed class PortalAuditTests : IAsyncLifetime
{
    private readonly TestSandbox _sandbox = new("portal-audit");
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-audit-e2e-").FullName;
    private AgentProcess? _agent;
    private PortalProcess? _portal;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _agent = new AgentProcess(_sandbox);
        await _agent.StartAsync();
        _portal = new PortalProcess(_directory, new Dictionary<string, string>
        {
            ["Portal__LocalAgentSocket"] = _agent!.SocketPath,
            ["Portal__ReconnectInitialDelay"] = "00:00:00.200",
            ["Portal__ReconnectMaxDelay"] = "00:00:01",
        });
        await _portal.StartAsync();
        _http = _portal.Browser();
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_portal is not null)
            {
                await _portal.DisposeAsync();
                _http?.Dispose();
            }

            if (_agent is not null)
            {
                await _agent.DisposeAsync();
            }
        }
        finally
        {
            _sandbox.Clean();
            Directory.Delete(_directory, recursive: true);
        }
    }

    [RootFact]
    public async Task The_portal_merges_a_real_agents_entries_with_its_own_sign_ins_and_exports_them()
    {
        // The agent's side: the audit client streams a new entry live and reads it back newest first.
        await using (var client = new AgentAuditClient(AgentEndpoint.Socket(_agent!.SocketPath)))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await using var live = client.SubscribeAsync(null, cts.Token).GetAsyncEnumerator(cts.Token);
            var next = live.MoveNextAsync().AsTask();
            AuditEntry? streamed = null;
            while (streamed is null)
            {
                await _agent!.PostAsync<JsonElement>("api/keys", new { name = $"audit-e2e-{Guid.NewGuid():N}"[..20], scope = "Read" });
                if (await Task.WhenAny(next, Task.Delay(500, cts.Token)) == next)
                {
                    Assert.True(await next);
                    streamed = live.Current;
                }
            }

            Assert.Equal("key.create", streamed.Action);
            var (newest, _) = await NewestAuditReader.ReadAsync(client, new AgentAuditFilter { Action = "key" }, _ => true, 5, cts.Token);
            Assert.Contains(newest, e => e.Sequence == streamed.Sequence);
            Assert.True(newest.Zip(newest.Skip(1)).All(p => p.First.Sequence > p.Second.Sequence));
        }

        // The portal's side: a refused and a good sign-in, the forced password change, then the export.
        var password = (await File.ReadAllTextAsync(PasswordFile)).Trim();
        Assert.Equal(HttpStatusCode.OK, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = "not-the-password" })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/login", "login", new() { ["Input.UserName"] = "admin", ["Input.Password"] = password })).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostFormAsync("account/change-password", "change-password", new() { ["Input.Current"] = password, ["Input.New"] = "Correct-Horse-42", ["Input.Confirm"] = "Correct-Horse-42" })).StatusCode);

        JsonElement export = default;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var response = await _http.GetAsync("audit/export?format=json");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{Output}");
            export = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            if (export.GetProperty("missingHosts").GetArrayLength() == 0 && Entries(export).Any(e => e.Host == "local" && e.Action == "key.create"))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"The local host's entries never came: {export}\n{Output}");
            await Task.Delay(250);
        }

        var entries = Entries(export);
        Assert.Contains(entries, e => e.Host == "portal" && e.Action == "user.create" && e.Decision == "Allowed");
        Assert.Contains(entries, e => e.Host == "portal" && e.Action == "auth.sign-in" && e.Decision == "Denied" && e.Entry.GetProperty("reason").GetString() == "Wrong password.");
        Assert.Contains(entries, e => e.Host == "portal" && e.Action == "auth.sign-in" && e.Decision == "Allowed" && e.Entry.GetProperty("source").GetString()!.StartsWith("127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.Host == "portal" && e.Action == "user.change-password" && e.Entry.GetProperty("actor").GetProperty("name").GetString() == "admin");
        var times = entries.Select(e => e.Entry.GetProperty("time").GetDateTimeOffset()).ToList();
        Assert.True(times.Zip(times.Skip(1)).All(p => p.First >= p.Second), "newest first");

        using var denied = await _http.GetAsync("audit/export?format=csv&host=portal&decision=Denied");
        Assert.Equal(HttpStatusCode.OK, denied.StatusCode);
        Assert.Equal("text/csv", denied.Content.Headers.ContentType!.MediaType);
        Assert.Matches("^audit-\\d{8}T\\d{6}Z\\.csv$", denied.Content.Headers.ContentDisposition!.FileNameStar ?? denied.Content.Headers.ContentDisposition.FileName!.Trim('"'));
        var lines = (await denied.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(string.Join(',', AuditExport.Columns), lines[0]);
        Assert.Equal(2, lines.Length);
        Assert.Contains(",portal,", lines[1]);
        Assert.Contains(",auth.sign-in,", lines[1]);

        using var bad = await _http.GetAsync("audit/export?format=xml");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("use csv or json", await bad.Content.ReadAsStringAsync());

        // Signing out is recorded too (in the portal's JSON Lines trail, read here as a file: the export needs a session).
        var page = await (await _http.GetAsync("audit")).Content.ReadAsStringAsync();
        using var signOut = await _http.PostAsync("account/logout", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = PortalProcess.AntiforgeryTokenOf(page) }));
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Single(await _portal!.AuditAsync(e => e.GetProperty("action").GetString() == "auth.sign-out", 1));
        Assert.Equal(HttpStatusCode.Redirect, (await _http.GetAsync("audit/export?format=json")).StatusCode);

        // The host's command line: recorded with the portal's host as the actor.
        await _portal.RunCommandAsync("disable-user", "admin");
        var disabled = Assert.Single(await _portal.AuditAsync(e => e.GetProperty("action").GetString() == "user.disable", 1));
        Assert.Equal("admin", disabled.GetProperty("target").GetProperty("name").GetString());
        Assert.Equal("portal (its host's command line or first start)", disabled.GetProperty("actor").GetProperty("name").GetString());
    }

    private string PasswordFile => _portal!.PasswordFile;

    private static List<(string Host, string Action, string Decision, JsonElement Entry)> Entries(JsonElement export) =>
        [.. export.GetProperty("entries").EnumerateArray().Select(e => (e.GetProperty("host").GetString()!, e.GetProperty("entry").GetProperty("action").GetString()!,
            e.GetProperty("entry").GetProperty("decision").GetString()!, e.GetProperty("entry")))];

    private Task<HttpResponseMessage> PostFormAsync(string path, string handler, Dictionary<string, string> fields) =>
        PortalProcess.PostFormAsync(_http, path, handler, fields);

    private string Output => _portal!.Output;
}
