using System.Management.Automation;
using Portal.Client;
using Portal.Contracts;
using Portal.PowerShell.Client;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// Connect-PortalAgent -AgentUri http://host2:5081 -ApiKey pk_...: later cmdlets in this session use that agent
/// (each can still name another with -AgentUri). Checks the agent answers and prints its host info.
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "PortalAgent")]
[OutputType(typeof(HostInfo))]
public sealed class ConnectPortalAgentCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string AgentUri { get; set; } = "";

    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? ApiKey { get; set; }

    protected override void ProcessRecord()
    {
        AgentEndpoint agent;
        try
        {
            agent = AgentResolver.Parse(AgentUri, ApiKey);
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidAgentUri", ErrorCategory.InvalidArgument, AgentUri));
            return;
        }

        try
        {
            var client = AgentClients.Current.ConnectAsync(agent, CancellationToken.None).GetAwaiter().GetResult();
            var host = client.GetHostAsync(CancellationToken.None).GetAwaiter().GetResult();
            AgentResolver.SetSession(agent);
            WriteObject(host);
        }
        catch (AgentException e)
        {
            ThrowTerminatingError(e.ToErrorRecord(AgentUri));
        }
    }
}

/// <summary>Disconnect-PortalAgent: back to the local agent (or $env:PORTAL_AGENT_URI).</summary>
[Cmdlet(VerbsCommunications.Disconnect, "PortalAgent")]
public sealed class DisconnectPortalAgentCommand : PSCmdlet
{
    protected override void ProcessRecord() => AgentResolver.SetSession(null);
}
