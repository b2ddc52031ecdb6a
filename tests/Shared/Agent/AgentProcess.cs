using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Portal.Contracts.Hub;

namespace Portal.Tests.Shared;

/// <summary>
/// The real agent as a separate process (so it can be killed with SIGKILL), on a private socket, port and state,
/// for every test project that drives it. Disposing removes its containers and kills it.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly RecentOutput _log = new();
    private readonly System.Text.StringBuilder _output = new();
    private Process? _process;

    public AgentProcess(TestSandbox sandbox)
    {
        Sandbox = sandbox;
        SocketPath = Path.Combine(sandbox.Options.RunRoot, "agent.sock");
        Port = FreeTcpPort.Next();
        Socket = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://agent/"), Timeout = TimeSpan.FromMinutes(3) };
        Tcp = new HttpClient { BaseAddress = new Uri($"{TcpUri}/") };
    }

    public TestSandbox Sandbox { get; }

    public string SocketPath { get; }

    public int Port { get; }

    /// <summary>unix:///... as the PowerShell module's -AgentUri takes it.</summary>
    public string SocketUri => $"unix://{SocketPath}";

    public string TcpUri => $"http://127.0.0.1:{Port}";

    /// <summary>A client on the agent's local socket (the full API; admin without a key).</summary>
    public HttpClient Socket { get; }

    /// <summary>A client on the agent's TCP listener.</summary>
    public HttpClient Tcp { get; }

    public int Pid => _process?.Id ?? 0;

    /// <summary>The agent's resident memory now (VmRSS), to show that something does not grow it.</summary>
    public long ResidentBytes =>
        long.Parse(File.ReadLines($"/proc/{Pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;

    /// <summary>More environment for the agent (settings such as Logging__LogLevel__Default), applied at the next start.</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public bool HasExited => _process is { HasExited: true };

    /// <summary>The agent's docker-compatible socket (private to the sandbox, never the host's default).</summary>
    public string DockerSocketPath => Path.Combine(Path.GetDirectoryName(SocketPath)!, "docker.sock");

    /// <summary>The agent's last lines of output, for failure messages.</summary>
    public string RecentLog => _log.ToString();

    /// <summary>The admin key the agent handed over at its first start (in its 0600 file, never on its output).</summary>
    public string? AdminKey { get; private set; }

    /// <summary>Where the agent hands over its first admin key.</summary>
    public string AdminKeyFile => Portal.Agent.Auth.ApiKeyBootstrap.PathUnder(Sandbox.Options.StateRoot);

    /// <summary>Everything the agent wrote to stdout and stderr (what `deploy/portal up` keeps in its log).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>A TCP client that sends <paramref name="key"/>.</summary>
    public HttpClient TcpWithKey(string key)
    {
        var client = new HttpClient { BaseAddress = Tcp.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async Task StartAsync()
    {
        var agentDll = Path.Combine(AppContext.BaseDirectory, "Portal.Agent.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        psi.ArgumentList.Add(agentDll);
        var o = Sandbox.Options;
        psi.Environment["Compute__StateRoot"] = o.StateRoot;
        psi.Environment["Compute__RunRoot"] = o.RunRoot;
        psi.Environment["Compute__CgroupParent"] = o.CgroupParent;
        psi.Environment["Compute__ScratchDiskBytes"] = o.ScratchDiskBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["Compute__GuestKernel"] = o.GuestKernel;
        psi.Environment["Compute__GuestInitramfs"] = o.GuestInitramfs;
        psi.Environment["Agent__Socket"] = SocketPath;
        psi.Environment["Agent__DockerSocket"] = DockerSocketPath;
        psi.Environment["Compute__DefaultStopTimeout"] = o.DefaultStopTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["Agent__Url"] = TcpUri;
        psi.Environment["Compute__Networking__InterfacePrefix"] = o.Networking.InterfacePrefix;
        psi.Environment["Compute__Networking__NftTable"] = o.Networking.NftTable;
        psi.Environment["Compute__Networking__AddressPool"] = o.Networking.AddressPool;
        psi.Environment["Compute__Networking__EnableIpForward"] = o.Networking.EnableIpForward ? "true" : "false";
        foreach (var (name, value) in Environment)
        {
            psi.Environment[name] = value;
        }

        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, line) => Keep(line.Data);
        _process.ErrorDataReceived += (_, line) => Keep(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The agent exited with {_process.ExitCode} while starting:\n{RecentLog}");
            }

            try
            {
                var health = await Tcp.GetAsync("healthz");
                if (health.StatusCode == HttpStatusCode.OK)
                {
                    // The key file exists before the agent listens; a test may have rotated the first key away meanwhile.
                    AdminKey ??= File.Exists(AdminKeyFile) ? (await File.ReadAllTextAsync(AdminKeyFile)).Trim() : null;
                    if (AdminKey is not null)
                    {
                        return;
                    }
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The agent did not become healthy within 60 s:\n{RecentLog}");
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _log.Add(line);
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as when the agent crashes.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async Task<T> GetAsync<T>(string path) => (await Socket.GetFromJsonAsync<T>(path, Json))!;

    public async Task<T> PostAsync<T>(string path, object? body = null)
    {
        var response = await Socket.PostAsJsonAsync(path, body, Json);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(Json))!;
    }

    /// <summary>Removes every container through the API (force), so nothing outlives a test even when it failed.</summary>
    public async Task RemoveAllContainersAsync()
    {
        if (_process is not { HasExited: false })
        {
            return;
        }

        foreach (var view in await Socket.GetFromJsonAsync<ContainerView[]>("api/containers", Json) ?? [])
        {
            await Socket.DeleteAsync($"api/containers/{view.Container.Id}?force=true");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RemoveAllContainersAsync();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
        }

        await KillAsync();
        _process?.Dispose();
        Socket.Dispose();
        Tcp.Dispose();
    }
}
