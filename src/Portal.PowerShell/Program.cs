using System.Management.Automation.Runspaces;
using Microsoft.PowerShell;
using Portal.PowerShell.Client;

namespace Portal.PowerShell;

/// <summary>
/// The console host behind `./deploy/portal pwsh`: PowerShell's own console (interactive, or -Command/-File with their
/// exit codes) with this module imported, so pwsh need not be installed.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var session = InitialSessionState.CreateDefault2();
        session.ImportPSModule(Path.Combine(AppContext.BaseDirectory, "Portal.PowerShell.psd1"));
        const string banner = "Portal PowerShell: the container cmdlets (Get-Command -Module Portal.PowerShell) against the local agent, or Connect-PortalAgent -AgentUri ... for another host.";
        var exitCode = ConsoleShell.Start(session, banner, string.Empty, args);
        await AgentClients.CloseSharedAsync(TimeSpan.FromSeconds(5));
        return exitCode;
    }
}
