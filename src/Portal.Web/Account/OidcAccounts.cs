using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>The portal user a provider sign-in is for, or why there is none (a <see cref="OidcSignIn.Refusal"/> code and the audit's reason).</summary>
public sealed record OidcAccount(PortalUser? User, string? UserName, string? Refusal = null, string? Reason = null);

/// <summary>
/// Finds, links or makes the portal user of a provider sign-in: by the provider's login (its subject), else by user name
/// (a local account is taken over only when <see cref="PortalOidcOptions.LinkLocalAccounts"/> allows), else a new user
/// with no password; then sets the administrator flag from the claim, when one is configured. A disabled user is refused.
/// </summary>
public static class OidcAccounts
{
    public static async Task<OidcAccount> FindOrCreateAsync(UserManager<PortalUser> users, UserLoginInfo login, ClaimsPrincipal principal, PortalOidcOptions options)
    {
        var name = OidcClaims.UserName(principal, options);
        if (name is null)
        {
            return new(null, null, OidcSignIn.Refusal.NoUserName, $"The provider sent no user name (neither the {options.UserNameClaim} claim nor sub).");
        }

        var administrator = OidcClaims.IsAdministrator(principal, options);
        var user = await users.FindByLoginAsync(login.LoginProvider, login.ProviderKey);
        if (user is null)
        {
            if (await users.FindByNameAsync(name) is { } local)
            {
                // Already another provider subject's (made or linked at its first sign-in): not a local account, whatever
                // LinkLocalAccounts says. A name at the provider can change hands; the user stays with its subject.
                if ((await users.GetLoginsAsync(local)).Count > 0)
                {
                    return new(local, name, OidcSignIn.Refusal.TakenByAnother,
                        $"The portal user '{name}' belongs to another {options.DisplayName} account (another subject): a provider user never takes over another's portal user.");
                }

                if (!options.LinkLocalAccounts)
                {
                    return new(local, name, OidcSignIn.Refusal.LocalAccount,
                        $"A local account '{name}' exists and {PortalOidcOptions.Section}:LinkLocalAccounts is off: the provider's user may not take it over.");
                }

                user = local;
            }
            else
            {
                user = new PortalUser { UserName = name, IsAdministrator = administrator ?? false };
                var created = await users.CreateAsync(user); // no password: it signs in through the provider
                if (!created.Succeeded)
                {
                    return new(null, name, OidcSignIn.Refusal.Failed, "The portal user could not be made: " + Describe(created));
                }
            }

            var linked = await users.AddLoginAsync(user, login);
            if (!linked.Succeeded)
            {
                return new(user, name, OidcSignIn.Refusal.Failed, "The provider's login could not be linked: " + Describe(linked));
            }
        }

        if (UserAccounts.IsDisabled(user))
        {
            return new(user, user.UserName, OidcSignIn.Refusal.Disabled, "The account is disabled.");
        }

        // The provider's claim decides at every sign-in: leaving the group demotes the user and ends its other sessions.
        if (administrator is { } isAdministrator && user.IsAdministrator != isAdministrator)
        {
            user.IsAdministrator = isAdministrator;
            Check(await users.UpdateAsync(user));
            Check(await users.UpdateSecurityStampAsync(user));
        }

        return new(user, user.UserName);
    }

    private static void Check(IdentityResult result)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(Describe(result));
        }
    }

    private static string Describe(IdentityResult result) => string.Join(" ", result.Errors.Select(e => e.Description));
}
