using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Portal.PowerShell.Client;

/// <summary>
/// Where an agent is and how to authenticate: its local unix socket (the socket's ownership authorizes, as with dockerd)
/// or an HTTP endpoint with an API key.
/// </summary>
public sealed partial record AgentConnection
{
    public const string DefaultSocket = "/run/portal/agent.sock";
    public const string DefaultUrl = "http://127.0.0.1:5081";

    /// <summary>The connection a session set with Connect-PortalAgent, per runspace so hosted runspaces stay apart.</summary>
    private static readonly ConditionalWeakTable<Runspace, AgentConnection> Sessions = [];

    /// <summary>The unix socket path, or null for HTTP.</summary>
    public string? SocketPath { get; init; }

    /// <summary>The HTTP base address; for a socket a placeholder host that never resolves.</summary>
    public required Uri BaseAddress { get; init; }

    public string? ApiKey { get; init; }

    /// <summary>How users name this agent: unix:///path or the URL.</summary>
    public string Display => SocketPath is null ? BaseAddress.ToString().TrimEnd('/') : $"unix://{SocketPath}";

    public override string ToString() => Display;

    /// <summary>unix:///path/agent.sock, an absolute socket path, or http(s)://host:port.</summary>
    public static AgentConnection Parse(string agentUri, string? apiKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agentUri);
        if (agentUri.StartsWith('/'))
        {
            return Socket(agentUri, apiKey);
        }

        if (!Uri.TryCreate(agentUri, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"'{agentUri}' is not an agent address: use unix:///run/portal/agent.sock or http://host:5081.", nameof(agentUri));
        }

        return uri.Scheme switch
        {
            "unix" => Socket(uri.AbsolutePath, apiKey),
            "http" or "https" => new AgentConnection { BaseAddress = new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/"), ApiKey = apiKey ?? EnvironmentKey },
            _ => throw new ArgumentException($"'{agentUri}' has scheme '{uri.Scheme}': use unix:// for the local socket, http:// or https:// for another host.", nameof(agentUri)),
        };
    }

    /// <summary>
    /// -AgentUri/-ApiKey win; then Connect-PortalAgent's session; then $env:PORTAL_AGENT_URI; then the local socket when
    /// this user may use it; else the local TCP listener with $env:PORTAL_API_KEY.
    /// </summary>
    public static AgentConnection Resolve(string? agentUri, string? apiKey)
    {
        if (!string.IsNullOrWhiteSpace(agentUri))
        {
            return Parse(agentUri, apiKey);
        }

        if (Runspace.DefaultRunspace is { } runspace && Sessions.TryGetValue(runspace, out var session))
        {
            return apiKey is null ? session : session with { ApiKey = apiKey };
        }

        if (Environment.GetEnvironmentVariable("PORTAL_AGENT_URI") is { Length: > 0 } fromEnvironment)
        {
            return Parse(fromEnvironment, apiKey);
        }

        return CanUse(DefaultSocket) ? Socket(DefaultSocket, apiKey) : Parse(DefaultUrl, apiKey);
    }

    public static void SetSession(AgentConnection? connection)
    {
        var runspace = Runspace.DefaultRunspace ?? throw new InvalidOperationException("No runspace to store the connection in.");
        Sessions.Remove(runspace);
        if (connection is not null)
        {
            Sessions.Add(runspace, connection);
        }
    }

    public static AgentConnection? Session => Runspace.DefaultRunspace is { } runspace && Sessions.TryGetValue(runspace, out var session) ? session : null;

    private static string? EnvironmentKey => Environment.GetEnvironmentVariable("PORTAL_API_KEY") is { Length: > 0 } key ? key : null;

    private static AgentConnection Socket(string path, string? apiKey) => new() { SocketPath = path, BaseAddress = new Uri("http://agent/"), ApiKey = apiKey };

    private static bool CanUse(string socket) => File.Exists(socket) && access(socket, ReadWrite) == 0;

    private const int ReadWrite = 4 | 2; // R_OK | W_OK

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int access(string path, int mode);
}
