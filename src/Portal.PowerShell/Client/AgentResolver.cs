using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Portal.Client;

namespace Portal.PowerShell.Client;

/// <summary>Which agent a cmdlet talks to: its parameters, the session's Connect-PortalAgent, the environment, or the local agent.</summary>
public static partial class AgentResolver
{
    public const string DefaultUrl = "http://127.0.0.1:5081";

    /// <summary>The agent a session chose with Connect-PortalAgent, per runspace so hosted runspaces stay apart.</summary>
    private static readonly ConditionalWeakTable<Runspace, AgentEndpoint> Sessions = [];

    private const int ReadWrite = 4 | 2; // R_OK | W_OK

    /// <summary>The session's agent (Connect-PortalAgent), or null.</summary>
    public static AgentEndpoint? Session => Runspace.DefaultRunspace is { } runspace && Sessions.TryGetValue(runspace, out var session) ? session : null;

    /// <summary>
    /// unix:///path/agent.sock, an absolute socket path, or http(s)://host:port; an HTTP address without -ApiKey takes
    /// $env:PORTAL_API_KEY, and without either the agent answers Unauthorized (an ErrorRecord, not a parameter error).
    /// </summary>
    public static AgentEndpoint Parse(string agentUri, string? apiKey) =>
        AgentEndpoint.Parse(agentUri, apiKey ?? EnvironmentKey(agentUri), requireKey: false);

    /// <summary>
    /// -AgentUri/-ApiKey win; then Connect-PortalAgent's session; then $env:PORTAL_AGENT_URI; then the local socket when
    /// this user may use it; else the local TCP listener with $env:PORTAL_API_KEY.
    /// </summary>
    public static AgentEndpoint Resolve(string? agentUri, string? apiKey)
    {
        if (!string.IsNullOrWhiteSpace(agentUri))
        {
            return Parse(agentUri, apiKey);
        }

        if (Session is { } session)
        {
            return apiKey is null ? session : session with { ApiKey = apiKey };
        }

        if (Environment.GetEnvironmentVariable("PORTAL_AGENT_URI") is { Length: > 0 } fromEnvironment)
        {
            return Parse(fromEnvironment, apiKey);
        }

        return CanUse(AgentEndpoint.DefaultSocket) ? AgentEndpoint.Socket(AgentEndpoint.DefaultSocket, apiKey) : Parse(DefaultUrl, apiKey);
    }

    public static void SetSession(AgentEndpoint? agent)
    {
        var runspace = Runspace.DefaultRunspace ?? throw new InvalidOperationException("No runspace to store the agent in.");
        Sessions.Remove(runspace);
        if (agent is not null)
        {
            Sessions.Add(runspace, agent);
        }
    }

    /// <summary>$env:PORTAL_API_KEY for HTTP addresses; the socket's ownership authorizes, so a socket gets none.</summary>
    private static string? EnvironmentKey(string agentUri) =>
        agentUri.StartsWith("http", StringComparison.OrdinalIgnoreCase) && Environment.GetEnvironmentVariable("PORTAL_API_KEY") is { Length: > 0 } key ? key : null;

    private static bool CanUse(string socket) => File.Exists(socket) && access(socket, ReadWrite) == 0;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int access(string path, int mode);
}
