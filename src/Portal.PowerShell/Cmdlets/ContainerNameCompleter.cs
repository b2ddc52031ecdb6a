using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Portal.Client;
using Portal.PowerShell.Client;

namespace Portal.PowerShell.Cmdlets;

/// <summary>Tab completion of container names from the agent the command line names (or the session's, or the local one).</summary>
public sealed class ContainerNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = wordToComplete.Trim('\'', '"');
        try
        {
            var agent = AgentResolver.Resolve(fakeBoundParameters["AgentUri"] as string, fakeBoundParameters["ApiKey"] as string);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            var client = AgentClients.Current.ConnectAsync(agent, timeout.Token).GetAwaiter().GetResult();
            var containers = client.ListContainersAsync(timeout.Token).GetAwaiter().GetResult();
            var pattern = new WildcardPattern(word + "*", WildcardOptions.IgnoreCase);
            return containers
                .Select(v => v.Container)
                .Where(c => pattern.IsMatch(c.Name))
                .OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase)
                .Select(c => new CompletionResult(
                    c.Name.Any(ch => char.IsWhiteSpace(ch) || ch is '\'' or '"' or '$' or '`') ? $"'{c.Name.Replace("'", "''", StringComparison.Ordinal)}'" : c.Name,
                    c.Name,
                    CompletionResultType.ParameterValue,
                    $"{c.Name} ({c.RuntimeType}, {c.State}, {c.Id})"))
                .ToList();
        }
        catch (Exception e) when (e is AgentException or ArgumentException or OperationCanceledException)
        {
            return []; // completion never fails the command line
        }
    }
}
