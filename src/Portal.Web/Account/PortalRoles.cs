using System.Security.Claims;

namespace Portal.Web.Account;

/// <summary>
/// The portal's one global role. An administrator manages hosts, switches, images, users and teams and sees every
/// container. Everyone else acts for one of their teams (<see cref="Teams.ActingSession"/>), with that team's role,
/// and the agents decide what they may do.
/// </summary>
public static class PortalRoles
{
    public const string Administrator = "Administrator";

    public static bool IsAdministrator(ClaimsPrincipal user) => user.IsInRole(Administrator);
}
