using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>
/// A circuit checks its user against the database every <see cref="PortalOptions.UserRevalidationInterval"/>: once the
/// user is deleted, disabled or has a new security stamp (password reset, roles changed), the circuit's user becomes
/// anonymous, so its pages redirect to the sign-in page within seconds instead of living on for the whole circuit.
/// </summary>
public sealed class UserRevalidation(ILoggerFactory loggerFactory, IServiceScopeFactory scopes, IOptions<PortalOptions> options)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => options.Value.UserRevalidationInterval;

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        // A scope of its own: the circuit's DbContext must not be shared with this background check.
        await using var scope = scopes.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        return await UserAccounts.IsStillValidAsync(users, authenticationState.User);
    }
}

/// <summary>The sign-in cookie's periodic check also refuses a disabled user, not only a changed security stamp.</summary>
public sealed class PortalSecurityStampValidator(IOptions<SecurityStampValidatorOptions> options, SignInManager<PortalUser> signInManager, ILoggerFactory logger)
    : SecurityStampValidator<PortalUser>(options, signInManager, logger)
{
    protected override async Task<PortalUser?> VerifySecurityStamp(System.Security.Claims.ClaimsPrincipal? principal)
    {
        var user = await base.VerifySecurityStamp(principal);
        return user is not null && UserAccounts.IsDisabled(user) ? null : user;
    }
}
