using System.Diagnostics;
using System.Net.Sockets;
using Docker.DotNet;
using Portal.Tests.Shared;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// The real agent as a process with private state, serving the docker API on a temporary socket; the real docker
/// CLI and Docker.DotNet are pointed at it. Disposing kills the agent and cleans up every container, mount and cgroup.
/// </summary>
public sealed class DockerAgent : IAsyncDisposable
{
    private DockerAgent()
    {
        Sandbox = new TestSandbox();
        Agent = new AgentProcess(Sandbox);
        ConfigDirectory = Directory.CreateTempSubdirectory("portal-docker-cli-").FullName;
        Http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://docker/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public TestSandbox Sandbox { get; }

    /// <summary>The agent process behind the docker socket.</summary>
    public AgentProcess Agent { get; }

    public string SocketPath => Agent.DockerSocketPath;

    public string AgentSocketPath => Agent.SocketPath;

    /// <summary>A private DOCKER_CONFIG, so the CLI reads no user's settings.</summary>
    public string ConfigDirectory { get; }

    /// <summary>Raw HTTP on the docker socket.</summary>
    public HttpClient Http { get; }

    public bool HasExited => Agent.HasExited;

    public string RecentLog => Agent.RecentLog;

    public DockerClient CreateClient() => new DockerClientConfiguration(new Uri("unix://" + SocketPath)).CreateClient();

    /// <param name="configure">Settings for the agent before it starts (its <see cref="AgentProcess.Environment"/>).</param>
    public static async Task<DockerAgent> StartAsync(Action<AgentProcess>? configure = null)
    {
        TestSandbox.RequireRoot();
        var agent = new DockerAgent();
        try
        {
            configure?.Invoke(agent.Agent);
            await agent.Agent.StartAsync();
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs the real docker CLI against the socket; stdin, when given, is written and then closed.</summary>
    public Task<CliResult> DockerAsync(params string[] args) => RunAsync("docker", args, null, TimeSpan.FromSeconds(60));

    /// <summary>The docker CLI with more environment (a null value removes a variable, e.g. DOCKER_HOST for --context).</summary>
    public Task<CliResult> DockerWithEnvironmentAsync(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        RunAsync("docker", args, null, TimeSpan.FromSeconds(60), environment);

    public Task<CliResult> DockerWithInputAsync(string input, params string[] args) => RunAsync("docker", args, [(TimeSpan.Zero, input)], TimeSpan.FromSeconds(60));

    /// <summary>
    /// Runs a command under a pseudo-terminal (util-linux script), feeding it input lines with pauses, as a person at a
    /// terminal would: `docker run -it` needs a real TTY on its side.
    /// </summary>
    public Task<CliResult> UnderPtyAsync(string command, params (TimeSpan Delay, string Text)[] input) =>
        RunAsync("script", ["-qfec", command, "/dev/null"], input, TimeSpan.FromSeconds(60));

    private async Task<CliResult> RunAsync(string file, string[] args, (TimeSpan Delay, string Text)[]? input, TimeSpan timeout, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["DOCKER_HOST"] = "unix://" + SocketPath;
        psi.Environment["DOCKER_CONFIG"] = ConfigDirectory;
        psi.Environment["TERM"] = "xterm";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                psi.Environment.Remove(name);
            }
            else
            {
                psi.Environment[name] = value;
            }
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            foreach (var (delay, text) in input ?? [])
            {
                await Task.Delay(delay, cts.Token);
                await process.StandardInput.WriteAsync(text);
                await process.StandardInput.FlushAsync();
            }

            if (input is { Length: > 0 } && file == "script")
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cts.Token); // let the last line reach the terminal before its EOF
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s; output so far: {await stdout} {await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        Http.Dispose();
        Sandbox.Clean();
        Directory.Delete(ConfigDirectory, recursive: true);
    }
}

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>
/// One agent for all tests of a class (starting one takes a few seconds). xunit builds class fixtures even when every
/// test is skipped, so as any user but root this starts nothing (the tests are <see cref="RootFactAttribute"/>s).
/// </summary>
public sealed class DockerAgentFixture : IAsyncLifetime
{
    private DockerAgent? _agent;

    public DockerAgent Agent => _agent ?? throw new InvalidOperationException(RootOnly.IsRoot ? "The agent did not start." : RootOnly.Reason);

    public async Task InitializeAsync()
    {
        if (RootOnly.IsRoot)
        {
            _agent = await DockerAgent.StartAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
    }
}
