using Portal.Client;
using Portal.Contracts;
using Portal.Web.Hosts;

namespace Portal.Web.Teams;

/// <summary>A team's use of one host, or why there is none to show.</summary>
public sealed record HostTeamUsage(string HostId, string HostName, TeamUsage? Usage, string? Unavailable);

/// <summary>
/// Reads a team's usage from each connected host (GET /api/teams/{name}/usage, with the portal's administrator key: the
/// portal has already checked that the viewer may see the team). A host that does not answer is listed with the reason.
/// </summary>
public static class TeamUsages
{
    public static async Task<IReadOnlyList<HostTeamUsage>> ReadAsync(Fleet fleet, string team, CancellationToken ct)
    {
        var reads = fleet.Hosts.Select(async host =>
        {
            if (host.State != HostConnectionState.Connected)
            {
                return new HostTeamUsage(host.Id, host.Name, null, "not connected");
            }

            try
            {
                return new HostTeamUsage(host.Id, host.Name, await host.Client.GetTeamUsageAsync(team, ct), null);
            }
            catch (AgentException e)
            {
                return new HostTeamUsage(host.Id, host.Name, null, e.Message);
            }
        });
        return await Task.WhenAll(reads);
    }

    public static async Task<HostTeamUsage?> ReadAsync(AgentHost host, string team, CancellationToken ct)
    {
        try
        {
            return new HostTeamUsage(host.Id, host.Name, await host.Client.GetTeamUsageAsync(team, ct), null);
        }
        catch (AgentException e)
        {
            return new HostTeamUsage(host.Id, host.Name, null, e.Message);
        }
    }
}
