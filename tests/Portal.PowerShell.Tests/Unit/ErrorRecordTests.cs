using System.Management.Automation;
using Portal.Client;
using Portal.PowerShell.Client;
using Portal.PowerShell.Tests.Fakes;
using static Portal.PowerShell.Tests.ScriptAssert;

namespace Portal.PowerShell.Tests.Unit;

/// <summary>The unit tier: the agent's errors as ErrorRecords (ids, categories, targets), and which agent a cmdlet reaches.</summary>
public sealed class ErrorRecordTests : IDisposable
{
    private readonly FakeAgent _agent = new();
    private readonly PowerShellSession _ps;

    public ErrorRecordTests() => _ps = new PowerShellSession(_agent);

    public void Dispose() => _ps.Dispose();

    [Theory]
    [InlineData("ContainerNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("ImageNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("SwitchNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData("InvalidArgument", ErrorCategory.InvalidArgument)]
    [InlineData("ImageRejected", ErrorCategory.InvalidArgument)]
    [InlineData("NameInUse", ErrorCategory.ResourceExists)]
    [InlineData("PortInUse", ErrorCategory.ResourceExists)]
    [InlineData("InvalidTransition", ErrorCategory.InvalidOperation)]
    [InlineData("ImageInUse", ErrorCategory.InvalidOperation)]
    [InlineData("SwitchInUse", ErrorCategory.InvalidOperation)]
    [InlineData("SubnetOverlap", ErrorCategory.InvalidOperation)]
    [InlineData("NotSupported", ErrorCategory.NotImplemented)]
    [InlineData("Unauthorized", ErrorCategory.AuthenticationError)]
    [InlineData("Forbidden", ErrorCategory.PermissionDenied)]
    [InlineData("Timeout", ErrorCategory.OperationTimeout)]
    [InlineData("AgentUnreachable", ErrorCategory.ConnectionError)]
    [InlineData("QuotaExceeded", ErrorCategory.QuotaExceeded)]
    [InlineData("RuntimeFailure", ErrorCategory.NotSpecified)]
    public void Each_agent_code_has_its_category(string code, ErrorCategory category)
    {
        var record = new AgentException(code, "detail").ToErrorRecord("target");

        Assert.Equal((code, category, "target"), (record.FullyQualifiedErrorId, record.CategoryInfo.Category, record.TargetObject));
    }

    [Fact]
    public void The_agents_errors_are_ErrorRecords_with_its_code_category_message_and_the_container_as_target()
    {
        _agent.Add("ERRS", Contracts.ContainerState.Running);

        AssertError(_ps.Run("Get-Container -Name nope"), "ContainerNotFound", ErrorCategory.ObjectNotFound, "No container is named 'nope'");
        AssertError(_ps.Run("Start-Container nope"), "ContainerNotFound", ErrorCategory.ObjectNotFound, "nope");
        AssertError(_ps.Run("New-Container -Name ERRS -ContainerImageName nanoserver"), "NameInUse", ErrorCategory.ResourceExists, "ERRS");
        AssertError(_ps.Run("New-Container -Name 'bad name!' -ContainerImageName nanoserver"), "InvalidArgument", ErrorCategory.InvalidArgument, "bad name!");
        AssertError(_ps.Run("New-Container -Name NOIMAGE -ContainerImageName no-such-image:1"), "ImageNotFound", ErrorCategory.ObjectNotFound, "no-such-image");
        AssertError(_ps.Run("New-Container -ContainerImageName nanoserver -SwitchName NOSUCH"), "SwitchNotFound", ErrorCategory.ObjectNotFound, "No such switch");

        var error = _ps.Run("Start-Container ERRS").Errors.Single();
        Assert.Equal("InvalidTransition,Portal.PowerShell.Cmdlets.StartContainerCommand", error.FullyQualifiedErrorId);
        Assert.Equal("ERRS", error.TargetObject);
        var fromObject = _ps.Run("Get-Container ERRS | Start-Container").Errors.Single();
        Assert.Equal("ERRS", Assert.IsType<Model.PortalContainer>(fromObject.TargetObject).Name);
    }

    [Fact]
    public void An_error_for_one_container_lets_the_pipeline_go_on_and_ErrorAction_Stop_ends_it()
    {
        _agent.Add("ERRS", Contracts.ContainerState.Running);

        var mixed = _ps.Run("'nope', 'ERRS' | Stop-Container -TimeoutSeconds 1 -PassThru");
        Assert.Single(mixed.Errors);
        Assert.Equal("ERRS", Assert.Single(mixed.Output).Properties["Name"].Value);

        var stopped = _ps.Run("'nope', 'ERRS' | Start-Container -ErrorAction Stop; 'not reached'");
        Assert.Single(stopped.Errors);
        Assert.Empty(stopped.Output);
    }

    [Fact]
    public void Refusals_of_the_agent_keep_their_categories()
    {
        _agent.Failures["CreateContainer"] = new AgentException("Forbidden", "The agent refused this call: the API key's scope is too narrow for it.", 403);
        AssertError(_ps.Run("New-Container -Name RO -ContainerImageName nanoserver"), "Forbidden", ErrorCategory.PermissionDenied, "scope");

        using var refused = new PowerShellSession(new FakeAgent { ConnectError = new AgentException("Unauthorized", "The agent refused the API key (401).", 401) }, connect: false);
        AssertError(refused.Run("Get-Container -AgentUri http://127.0.0.1:5081 -ApiKey pk_bad"), "Unauthorized", ErrorCategory.AuthenticationError, "API key");

        using var gone = new PowerShellSession(new FakeAgent { ConnectError = new AgentException(AgentException.Unreachable, "The agent at unix:///run/none.sock is not reachable.") }, connect: false);
        AssertError(gone.Run("Get-Container -AgentUri unix:///run/none.sock"), "AgentUnreachable", ErrorCategory.ConnectionError, "not reachable");
        var connect = gone.Run("Connect-PortalAgent -AgentUri unix:///run/none.sock");
        Assert.Equal("AgentUnreachable,Portal.PowerShell.Cmdlets.ConnectPortalAgentCommand", Assert.Single(connect.Errors).FullyQualifiedErrorId);
    }

    [Fact]
    public void An_invalid_AgentUri_is_a_statement_terminating_InvalidAgentUri_error()
    {
        var result = _ps.Run("Get-Container -AgentUri ftp://host/agent");

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("InvalidAgentUri,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void Objects_remember_their_agent_and_pipeline_commands_go_back_there()
    {
        const string other = "unix:///run/portal-other/agent.sock";
        _agent.Add("THERE");

        var con = _ps.Ok($"Get-Container -AgentUri {other}").Single();
        Assert.Equal(other, ((AgentEndpoint)con.Properties["Agent"].Value).Display);
        _ps.Ok($"Get-Container -AgentUri {other} | Start-Container");

        var starts = _agent.Clients.Where(c => c.Endpoint.Display == other).ToList();
        Assert.Single(starts); // one connection per agent, shared by the cmdlets that follow
        Assert.Contains(_agent.Calls, c => c.StartsWith("StartContainer", StringComparison.Ordinal));
        Assert.Equal(PowerShellSession.FakeAgentUri, _ps.Ok("(Get-Container).Agent.Display").Single().BaseObject); // the session's agent is unchanged
    }

    [Fact]
    public void Connect_PortalAgent_returns_the_hosts_info_and_Disconnect_forgets_the_session()
    {
        using var ps = new PowerShellSession(_agent, connect: false);
        var host = ps.Ok("Connect-PortalAgent -AgentUri http://agent2.test:5081 -ApiKey pk_test").Single();

        Assert.Equal("fake", host.Properties["Hostname"].Value);
        Assert.Equal("http://agent2.test:5081", ps.Ok("New-Container -Name ON2 -ContainerImageName nanoserver").Single().Properties["Agent"].Value.ToString());
        ps.Ok("Disconnect-PortalAgent");
        Assert.Equal("http://127.0.0.1:5081", ps.Ok("(Get-Container -AgentUri http://127.0.0.1:5081 -ApiKey pk_test).Agent.Display").Single().BaseObject);
    }

    [Fact]
    public async Task A_closed_or_refused_connection_is_forgotten_and_the_next_cmdlet_connects_again()
    {
        _ps.Ok("Get-Container");
        var first = _agent.Clients.Last();
        await first.DropAsync();
        _ps.Ok("Get-Container");
        Assert.NotSame(first, _agent.Clients.Last());

        _agent.ConnectError = new AgentException(AgentException.Unreachable, "not reachable");
        await _agent.Clients.Last().DropAsync();
        Assert.Single(_ps.Run("Get-Container").Errors);
        _agent.ConnectError = null;
        Assert.Empty(_ps.Run("Get-Container").Errors);
    }
}
