using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Bench.Hub;

/// <summary>
/// The real agent as a separate process on a private port, sockets, state and cgroup parent (the approach of
/// tests/Portal.Agent.Tests/AgentProcess.cs). Its settings go on the command line rather than in the environment, so
/// the sandbox's clean-up finds the agent by its tag as well.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    /// <summary>Where the agent hands over its first admin key, under its state root (Portal.Agent.Auth.ApiKeyBootstrap).</summary>
    private static readonly string AdminKeyFile = Path.Combine("agent", "first-admin-key");

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly string _agentDll;
    private readonly Queue<string> _lastOutput = new();
    private readonly Lock _outputLock = new();
    private Process? _process;

    public AgentProcess(TestSandbox sandbox, string agentDll)
    {
        Sandbox = sandbox;
        _agentDll = agentDll;
        Port = FreeTcpPort.Next();
        BaseAddress = new Uri($"http://127.0.0.1:{Port}/");
    }

    public TestSandbox Sandbox { get; }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public int Pid => _process?.Id ?? 0;

    /// <summary>The admin key the agent handed over at its first start; set once <see cref="StartAsync"/> returned.</summary>
    public string AdminKey { get; private set; } = "";

    /// <summary>A TCP client that sends the admin key; the caller disposes it.</summary>
    public HttpClient CreateClient() => new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
    {
        BaseAddress = BaseAddress,
        Timeout = TimeSpan.FromMinutes(2),
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", AdminKey) },
    };

    public async Task StartAsync(long scratchDiskBytes, CancellationToken ct)
    {
        if (!File.Exists(_agentDll))
        {
            throw new FileNotFoundException($"The agent is not built at {_agentDll}; run bench/run-hub (it builds the agent in Release first).", _agentDll);
        }

        // setsid: a Ctrl-C in the terminal goes to the whole foreground process group; the agent must not get it, or it
        // would shut down before the bench removed its containers through the API.
        var psi = new ProcessStartInfo("setsid") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(_agentDll)! };
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add(_agentDll);
        var settings = new Dictionary<string, string>
        {
            ["Compute:StateRoot"] = Sandbox.StateRoot,
            ["Compute:RunRoot"] = Sandbox.RunRoot,
            ["Compute:CgroupParent"] = Sandbox.CgroupParent,
            ["Compute:ScratchDiskBytes"] = scratchDiskBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Compute:DefaultRuntimeType"] = "Default",
            ["Agent:Url"] = $"http://127.0.0.1:{Port}",
            ["Agent:Socket"] = Path.Combine(Sandbox.RunRoot, "agent.sock"),
            ["Agent:DockerSocket"] = Path.Combine(Sandbox.RunRoot, "docker.sock"),
            ["Agent:DockerSocketGroup"] = "",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            psi.ArgumentList.Add($"--{key}={value}");
        }

        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        _process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start dotnet for the agent.");
        _process.OutputDataReceived += (_, line) => OnOutput(line.Data);
        _process.ErrorDataReceived += (_, line) => OnOutput(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            ct.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The agent exited with {_process.ExitCode} while starting. Its last output:\n{LastOutput()}");
            }

            try
            {
                var health = await probe.GetAsync("healthz", ct);
                var keyFile = Path.Combine(Sandbox.StateRoot, AdminKeyFile);
                if (health.StatusCode == HttpStatusCode.OK && File.Exists(keyFile))
                {
                    AdminKey = (await File.ReadAllTextAsync(keyFile, ct)).Trim();
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
            }

            await Task.Delay(100, ct);
        }

        throw new TimeoutException($"The agent did not become healthy and hand over its admin key within 120 s. Its last output:\n{LastOutput()}");
    }

    public static async Task<T> GetAsync<T>(HttpClient client, string path, CancellationToken ct) =>
        (await client.GetFromJsonAsync<T>(path, Json, ct))!;

    public static async Task<T> PostAsync<T>(HttpClient client, string path, object? body, CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync(path, body, Json, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    /// <summary>SIGKILL; the containers must be removed through the API before (the agent leaves them running).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public string LastOutput()
    {
        lock (_outputLock)
        {
            return string.Join('\n', _lastOutput);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            _lastOutput.Enqueue(line);
            if (_lastOutput.Count > 40)
            {
                _lastOutput.Dequeue();
            }
        }
    }
}
