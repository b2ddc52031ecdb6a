using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>
/// Whether a signed-in user may go on, and the account changes an administrator makes on the host. A disabled user is
/// Identity's permanent lockout; disabling, a password reset and a role change all renew the security stamp, so every
/// session opened before ends (open circuits through <see cref="UserRevalidation"/>, cookies through
/// <see cref="PortalSecurityStampValidator"/>).
/// </summary>
public static class UserAccounts
{
    /// <summary>Lockouts that end after this are a disabled account, not a few minutes for wrong passwords.</summary>
    private static readonly DateTimeOffset DisabledFrom = new(9000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static bool IsDisabled(PortalUser user) => IsDisabled(user.LockoutEnd);

    public static bool IsDisabled(DateTimeOffset? lockoutEnd) => lockoutEnd is { } end && end >= DisabledFrom;

    /// <summary>
    /// Whether the user a session was opened for still exists, is enabled, and has the security stamp the session
    /// was opened with (unchanged password, roles and enabled state).
    /// </summary>
    public static async Task<bool> IsStillValidAsync(UserManager<PortalUser> users, ClaimsPrincipal principal)
    {
        if (await users.GetUserAsync(principal) is not { } user || IsDisabled(user))
        {
            return false;
        }

        if (!users.SupportsUserSecurityStamp)
        {
            return true;
        }

        var stamp = principal.FindFirstValue(users.Options.ClaimsIdentity.SecurityStampClaimType);
        return stamp is not null && stamp == await users.GetSecurityStampAsync(user);
    }

    public static async Task DisableAsync(UserManager<PortalUser> users, PortalUser user)
    {
        Check(await users.SetLockoutEnabledAsync(user, true));
        Check(await users.SetLockoutEndDateAsync(user, DateTimeOffset.MaxValue));
        Check(await users.UpdateSecurityStampAsync(user));
    }

    /// <summary>
    /// A new one-time password for <paramref name="userName"/>, to be changed at the next sign-in; the user is enabled
    /// again (lockouts and failed attempts cleared) and every session it had ends. Throws when there is no such user.
    /// </summary>
    public static async Task<string> ResetPasswordAsync(UserManager<PortalUser> users, string userName)
    {
        var user = await users.FindByNameAsync(userName.Trim()) ?? throw NoSuchUser(userName);
        var password = PortalDatabase.OneTimePassword();
        var token = await users.GeneratePasswordResetTokenAsync(user);
        Check(await users.ResetPasswordAsync(user, token, password)); // renews the security stamp
        user.MustChangePassword = true;
        Check(await users.UpdateAsync(user));
        Check(await users.SetLockoutEndDateAsync(user, null));
        Check(await users.ResetAccessFailedCountAsync(user));
        return password;
    }

    /// <summary>
    /// A new user with a one-time password (to be changed at the first sign-in); throws <see cref="InvalidOperationException"/>
    /// with Identity's reason when the name is taken or not allowed.
    /// </summary>
    public static async Task<string> CreateAsync(UserManager<PortalUser> users, string userName, bool administrator)
    {
        userName = userName.Trim();
        if (await users.FindByNameAsync(userName) is not null)
        {
            throw new InvalidOperationException($"There is already a user '{userName}': pick another name, or reset its password with reset-password.");
        }

        var password = PortalDatabase.OneTimePassword();
        Check(await users.CreateAsync(new PortalUser { UserName = userName, MustChangePassword = true, IsAdministrator = administrator }, password));
        return password;
    }

    /// <summary>Makes the user a portal administrator or takes it away; its sessions end (a new security stamp), so none keeps the old role.</summary>
    public static async Task SetAdministratorAsync(UserManager<PortalUser> users, string userName, bool administrator)
    {
        var user = await users.FindByNameAsync(userName.Trim()) ?? throw NoSuchUser(userName);
        if (user.IsAdministrator == administrator)
        {
            return;
        }

        if (!administrator && !await users.Users.AnyAsync(u => u.IsAdministrator && u.Id != user.Id))
        {
            throw new InvalidOperationException($"'{user.UserName}' is the last administrator: make another user an administrator first (set-admin <user> yes).");
        }

        user.IsAdministrator = administrator;
        Check(await users.UpdateAsync(user));
        Check(await users.UpdateSecurityStampAsync(user));
    }

    public static InvalidOperationException NoSuchUser(string userName) =>
        new($"There is no user '{userName.Trim()}'. The first administrator is '{PortalDatabase.AdminUser}'.");

    private static void Check(IdentityResult result)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(string.Join(" ", result.Errors.Select(e => e.Description)));
        }
    }
}
