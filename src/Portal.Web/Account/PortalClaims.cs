using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>
/// Adds the "must change password" mark to the sign-in cookie, so every request can be sent to change it first, and the
/// <see cref="PortalRoles.Administrator"/> role of a portal administrator (a change renews the security stamp, so a
/// session never keeps a role its user lost).
/// </summary>
public sealed class PortalClaims(UserManager<PortalUser> users, IOptions<IdentityOptions> options)
    : UserClaimsPrincipalFactory<PortalUser>(users, options)
{
    public const string MustChangePassword = "portal:must-change-password";

    protected override async Task<ClaimsIdentity> GenerateClaimsAsync(PortalUser user)
    {
        var identity = await base.GenerateClaimsAsync(user);
        if (user.MustChangePassword)
        {
            identity.AddClaim(new Claim(MustChangePassword, "true"));
        }

        if (user.IsAdministrator)
        {
            identity.AddClaim(new Claim(Options.ClaimsIdentity.RoleClaimType, PortalRoles.Administrator));
        }

        return identity;
    }
}
