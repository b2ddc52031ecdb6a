using System.Management.Automation;
using Portal.Client;
using Portal.PowerShell.Client;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// What every cmdlet of the module shares: -AgentUri and -ApiKey (else the session's, else the local agent), the
/// agent client (Portal.Client's, from <see cref="AgentClients"/>), Ctrl-C as cancellation, and the agent's errors as
/// ErrorRecords with categories.
/// </summary>
public abstract class PortalCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private AgentEndpoint? _agent;

    /// <summary>unix:///run/portal/agent.sock (the default when usable), or http://host:5081 with -ApiKey.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AgentUri { get; set; }

    /// <summary>An API key (pk_...) for an agent's TCP listener; defaults to $env:PORTAL_API_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ApiKey { get; set; }

    protected CancellationToken Cancellation => _stopping.Token;

    protected bool AgentGiven => MyInvocation.BoundParameters.ContainsKey(nameof(AgentUri)) || MyInvocation.BoundParameters.ContainsKey(nameof(ApiKey));

    /// <summary>The agent this invocation talks to; an invalid -AgentUri is a terminating InvalidAgentUri error.</summary>
    protected AgentEndpoint Agent
    {
        get
        {
            if (_agent is null)
            {
                try
                {
                    _agent = AgentResolver.Resolve(AgentUri, ApiKey);
                }
                catch (ArgumentException e)
                {
                    ThrowTerminatingError(new ErrorRecord(e, "InvalidAgentUri", ErrorCategory.InvalidArgument, AgentUri));
                }
            }

            return _agent!;
        }
    }

    /// <summary>The connected client of <see cref="Agent"/>; use it inside <see cref="Try"/>, which turns its AgentExceptions into ErrorRecords.</summary>
    protected IAgentClient Client => ClientFor(Agent);

    /// <summary>The connected client of another agent (an object's own, for pipeline input).</summary>
    protected IAgentClient ClientFor(AgentEndpoint agent) => Await(AgentClients.Current.ConnectAsync(agent, Cancellation));

    /// <summary>
    /// Cmdlets are synchronous by PowerShell's design: the pipeline thread blocks here (it has no synchronization context,
    /// so nothing deadlocks) while Ctrl-C cancels through StopProcessing.
    /// </summary>
    protected T Await<T>(Task<T> task) => task.GetAwaiter().GetResult();

    protected void Await(Task task) => task.GetAwaiter().GetResult();

    /// <summary>Runs one agent call for one target; an agent error becomes a non-terminating ErrorRecord so the pipeline goes on.</summary>
    protected bool Try(Action action, object? target)
    {
        try
        {
            action();
            return true;
        }
        catch (AgentException e)
        {
            WriteError(e.ToErrorRecord(target));
            return false;
        }
        catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
        {
            return false;
        }
    }

    protected override void StopProcessing() => _stopping.Cancel();

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stopping.Dispose();
        }
    }
}
