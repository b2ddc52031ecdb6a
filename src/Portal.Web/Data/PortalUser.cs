using Microsoft.AspNetCore.Identity;

namespace Portal.Web.Data;

/// <summary>A person who may sign in to the portal.</summary>
public sealed class PortalUser : IdentityUser
{
    /// <summary>Set for the first-run administrator's one-time password: every page leads to changing it first.</summary>
    public bool MustChangePassword { get; set; }

    /// <summary>
    /// A portal administrator: hosts, switches, images, users and teams, and every container. Others act for one of their
    /// teams, as that team's member, and the agents enforce the team's rules. Users made before roles existed stay administrators.
    /// </summary>
    public bool IsAdministrator { get; set; }

    /// <summary>The team a non-administrator last chose to act for (the app bar's picker), or null for the first of theirs.</summary>
    public string? ActingTeam { get; set; }
}
