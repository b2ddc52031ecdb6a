using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using Portal.PowerShell.Client;
using Portal.PowerShell.Tests.Fakes;

namespace Portal.PowerShell.Tests;

/// <summary>What one script produced: its output objects and its errors (non-terminating and terminating).</summary>
public sealed record ScriptResult(Collection<PSObject> Output, IReadOnlyList<ErrorRecord> Errors, IReadOnlyList<ProgressRecord>? Progress = null)
{
    public IEnumerable<object?> Values(string property) => Output.Select(o => o.Properties[property]?.Value);
}

/// <summary>
/// A hosted runspace with the module imported from this output, connected with Connect-PortalAgent: to the test's real
/// agent, or (unit tier) to a fake agent that the runspace's own <see cref="AgentClients"/> reach instead of any socket.
/// </summary>
public sealed class PowerShellSession : IDisposable
{
    /// <summary>The address unit tests connect to: never dialled, the fake answers for it.</summary>
    public const string FakeAgentUri = "unix:///run/portal-fake/agent.sock";

    private readonly Runspace _runspace;

    public PowerShellSession(AgentProcess agent, bool connect = true)
        : this(null, connect ? agent.SocketUri : null)
    {
    }

    public PowerShellSession(FakeAgent agent, bool connect = true)
        : this(new AgentClients(agent), connect ? FakeAgentUri : null)
    {
    }

    private PowerShellSession(AgentClients? clients, string? connectTo)
    {
        var session = InitialSessionState.CreateDefault2();
        session.ImportPSModule(ModuleManifest);
        _runspace = RunspaceFactory.CreateRunspace(session);
        if (clients is not null)
        {
            AgentClients.Use(_runspace, clients);
        }

        _runspace.Open();
        if (connectTo is not null)
        {
            var connected = Run($"Connect-PortalAgent -AgentUri '{connectTo}'");
            Assert.Empty(connected.Errors);
        }
    }

    public static string ModuleManifest => Path.Combine(AppContext.BaseDirectory, "Portal.PowerShell.psd1");

    public ScriptResult Run(string script)
    {
        using var shell = System.Management.Automation.PowerShell.Create(_runspace);
        shell.AddScript(script);
        Collection<PSObject> output;
        var errors = new List<ErrorRecord>();
        try
        {
            output = shell.Invoke();
        }
        catch (RuntimeException e)
        {
            output = [];
            errors.Add(e.ErrorRecord);
        }

        errors.InsertRange(0, shell.Streams.Error);
        return new ScriptResult(output, errors, [.. shell.Streams.Progress]);
    }

    /// <summary>Runs a script that must not fail.</summary>
    public Collection<PSObject> Ok(string script)
    {
        var result = Run(script);
        Assert.True(result.Errors.Count == 0, $"{script}\n failed: {string.Join("\n", result.Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e}"))}");
        return result.Output;
    }

    /// <summary>The text a console would show for the script's output (format data applied).</summary>
    public string Text(string script) => string.Concat(Ok($"{script} | Out-String -Width 250").Select(o => o.ToString()));

    public void Dispose() => _runspace.Dispose();
}

/// <summary>What both tiers assert about a script that failed once.</summary>
public static class ScriptAssert
{
    /// <summary>One ErrorRecord with the agent's code as its id, the category and a message part; no output.</summary>
    public static void AssertError(ScriptResult result, string code, ErrorCategory category, string messagePart)
    {
        var error = Assert.Single(result.Errors);
        Assert.Equal(code, error.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(category, error.CategoryInfo.Category);
        Assert.Contains(messagePart, error.Exception.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(result.Output);
    }
}
