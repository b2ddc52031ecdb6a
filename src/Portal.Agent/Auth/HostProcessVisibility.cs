using System.Security.Claims;
using Portal.Compute;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>
/// What each scope sees of the host's process table. Host command lines often carry other services' secrets (passwords,
/// tokens and connection strings in arguments), so a Read key sees every process (PID, parent, user, name, CPU, memory,
/// its container) but command lines only of processes inside containers, which it may inspect anyway; host processes and
/// VM workers show an empty command line, and its <c>match</c> looks only at what it may see. Operate and Admin see all.
/// </summary>
public static class HostProcessVisibility
{
    public static bool MaySeeHostCommandLines(ClaimsPrincipal user) => AgentPolicies.ScopeOf(user) >= ApiScope.Operate;

    public static IReadOnlyList<HostProcessInfo> Find(IHostProcessView view, string? match, ClaimsPrincipal user)
    {
        if (MaySeeHostCommandLines(user))
        {
            return view.FindHostProcesses(match);
        }

        return view.FindHostProcesses()
            .Select(Redact)
            .Where(p => match is null || p.Name.Contains(match, StringComparison.OrdinalIgnoreCase) || p.CommandLine.Contains(match, StringComparison.OrdinalIgnoreCase))
            .ToList();
    }

    public static IsolationView For(IsolationView view, ClaimsPrincipal user) =>
        MaySeeHostCommandLines(user) ? view : view with { SeenFromHost = view.SeenFromHost.Select(Redact).ToList() };

    /// <summary>A process as a Read key sees it: the command line only inside a container.</summary>
    public static HostProcessInfo Redact(HostProcessInfo process) =>
        process.ContainerId is not null && !process.IsVmWorker ? process : process with { CommandLine = "" };
}
