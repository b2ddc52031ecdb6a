using System.Diagnostics;
using System.Net;

namespace Portal.Tests.Shared;

/// <summary>
/// The real portal (src/Portal.Web, from its own build output) as a separate process on a free port, with its own SQLite
/// file and key ring in the sandbox, and the sandbox's agent registered as host "local" through the agent's socket.
/// Reads the one-time password it hands over at its first start (a 0600 file beside its database). Disposing kills it.
/// </summary>
public sealed class PortalProcess : IAsyncDisposable
{
    private readonly RecentOutput _log = new();
    private readonly string _agentSocket;
    private Process? _process;

    public PortalProcess(TestSandbox sandbox, string agentSocket)
    {
        Sandbox = sandbox;
        _agentSocket = agentSocket;
        Port = FreeTcpPort.Next();
        Root = Path.Combine(sandbox.PrivateRoot, "portal");
    }

    public TestSandbox Sandbox { get; }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Where the portal keeps its database and key ring.</summary>
    public string Root { get; }

    /// <summary>The first administrator's one-time password, as handed over at the first start.</summary>
    public string? OneTimePassword { get; private set; }

    public int Pid => _process?.Id ?? 0;

    public string RecentLog => _log.ToString();

    /// <summary>The portal's build output: the same configuration as the caller's, under src/Portal.Web/bin.</summary>
    public static string FindBuild()
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Portal.sln")))
            {
                var build = Path.Combine(dir.FullName, "src", "Portal.Web", "bin", configuration, "net10.0");
                return File.Exists(Path.Combine(build, "Portal.Web.dll"))
                    ? build
                    : throw new FileNotFoundException($"The portal is not built at {build}: run `dotnet build -c {configuration} src/Portal.Web` first.");
            }
        }

        throw new DirectoryNotFoundException("Cannot find the repository (Portal.sln) above the tests' directory.");
    }

    public async Task StartAsync()
    {
        var build = FindBuild();
        Directory.CreateDirectory(Root);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = build };
        psi.ArgumentList.Add(Path.Combine(build, "Portal.Web.dll"));
        psi.Environment["Portal__Url"] = Url;
        psi.Environment["Portal__Database"] = Path.Combine(Root, "portal.db");
        psi.Environment["Portal__KeysDirectory"] = Path.Combine(Root, "keys");
        psi.Environment["Portal__LocalAgentSocket"] = _agentSocket;
        // Serves wwwroot from the project (the build output has only the static web assets manifest), as `dotnet run` does.
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        psi.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        _process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start.");
        _process.OutputDataReceived += (_, line) => _log.Add(line.Data);
        _process.ErrorDataReceived += (_, line) => _log.Add(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The portal exited with {_process.ExitCode} while starting:\n{RecentLog}");
            }

            try
            {
                var login = await http.GetAsync($"{Url}/account/login");
                if (login.StatusCode == HttpStatusCode.OK)
                {
                    var file = Path.Combine(Root, "first-admin-password");
                    OneTimePassword ??= File.Exists(file) ? (await File.ReadAllTextAsync(file)).Trim() : null;
                    if (OneTimePassword is not null)
                    {
                        return;
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"The portal did not answer within 120 s:\n{RecentLog}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
    }
}
