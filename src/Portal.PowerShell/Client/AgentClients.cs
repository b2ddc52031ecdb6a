using System.Collections.Concurrent;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using Portal.Client;

namespace Portal.PowerShell.Client;

/// <summary>
/// The module's agent clients (Portal.Client's, as the portal uses): one connected client per agent endpoint, kept for the
/// process's life because cmdlets are short and connections are not, and forgotten when its connection closes or fails
/// to open, so the next cmdlet connects again. A runspace can be given its own (a host's or a test's client factory).
/// </summary>
public sealed class AgentClients(IAgentClientFactory factory)
{
    /// <summary>The module's User-Agent: the agent's audit trail records its calls as the PowerShell entry point.</summary>
    public static readonly string UserAgent = AgentClientFactory.UserAgentOf<AgentClients>("Portal.PowerShell");

    private static readonly AgentClients Shared = new(new AgentClientFactory(UserAgent));
    private static readonly ConditionalWeakTable<Runspace, AgentClients> Own = [];

    private readonly ConcurrentDictionary<AgentEndpoint, Lazy<Task<IAgentClient>>> _clients = new();

    /// <summary>The clients of the current runspace: its own when it was given some, else the process's.</summary>
    public static AgentClients Current => Runspace.DefaultRunspace is { } runspace && Own.TryGetValue(runspace, out var own) ? own : Shared;

    /// <summary>
    /// Closes the process's connections when its host ends (the console host behind `./deploy/portal pwsh`), so the
    /// agents see the disconnect at once and nothing of them outlives the shell; bounded, never holding up the exit.
    /// </summary>
    public static async Task CloseSharedAsync(TimeSpan patience)
    {
        var closing = Shared._clients.Values.Where(e => e.IsValueCreated).Select(async entry =>
        {
            try
            {
                await (await entry.Value.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (AgentException)
            {
                // It never connected: nothing to close.
            }
        });
        Shared._clients.Clear();
        try
        {
            await Task.WhenAll(closing).WaitAsync(patience).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // An agent that does not answer the close does not keep the shell open.
        }
    }

    /// <summary>Gives <paramref name="runspace"/> its own clients, made by their factory (the seam a fake agent plugs into).</summary>
    public static void Use(Runspace runspace, AgentClients clients) => Own.AddOrUpdate(runspace, clients);

    /// <summary>The client for <paramref name="agent"/>, connected; AgentUnreachable, Unauthorized or Forbidden when it cannot be.</summary>
    public Task<IAgentClient> ConnectAsync(AgentEndpoint agent, CancellationToken ct) =>
        _clients.GetOrAdd(agent, NewEntry).Value.WaitAsync(ct);

    private Lazy<Task<IAgentClient>> NewEntry(AgentEndpoint agent)
    {
        Lazy<Task<IAgentClient>>? entry = null;
        entry = new Lazy<Task<IAgentClient>>(() => ConnectNewAsync(agent, entry!));
        return entry;
    }

    private async Task<IAgentClient> ConnectNewAsync(AgentEndpoint agent, Lazy<Task<IAgentClient>> entry)
    {
        var client = factory.Create(agent);
        // A closed connection stays closed (the client does not reconnect); it is not disposed from its own Closed handler.
        client.Closed += _ =>
        {
            _clients.TryRemove(KeyValuePair.Create(agent, entry));
            return Task.CompletedTask;
        };
        try
        {
            // Not a cmdlet's token: later cmdlets share the connection; each caller stops waiting on its own Ctrl-C.
            await client.ConnectAsync(CancellationToken.None).ConfigureAwait(false);
            return client;
        }
        catch
        {
            _clients.TryRemove(KeyValuePair.Create(agent, entry));
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
