using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;

namespace Portal.Web.Audit;

/// <summary>Identity's sign-in manager that records each password sign-in (succeeded or refused, and why) and each sign-out.</summary>
public sealed class AuditingSignInManager(
    UserManager<PortalUser> userManager,
    IHttpContextAccessor contextAccessor,
    IUserClaimsPrincipalFactory<PortalUser> claimsFactory,
    IOptions<IdentityOptions> optionsAccessor,
    ILogger<SignInManager<PortalUser>> logger,
    IAuthenticationSchemeProvider schemes,
    IUserConfirmation<PortalUser> confirmation,
    PortalAuditRecorder audit)
    : SignInManager<PortalUser>(userManager, contextAccessor, claimsFactory, optionsAccessor, logger, schemes, confirmation)
{
    public const string SignIn = "auth.sign-in";
    public const string SignOut = "auth.sign-out";

    public override async Task<SignInResult> PasswordSignInAsync(string userName, string password, bool isPersistent, bool lockoutOnFailure)
    {
        var result = await base.PasswordSignInAsync(userName, password, isPersistent, lockoutOnFailure);
        var name = userName.Trim();
        var user = await UserManager.FindByNameAsync(name);
        if (result.Succeeded)
        {
            audit.Record(SignIn, user, name, PortalAuditRecorder.UserActor(name), name);
            return result;
        }

        var reason = result switch
        {
            { IsLockedOut: true } when user is not null && UserAccounts.IsDisabled(user) => "The account is disabled.",
            { IsLockedOut: true } => "Too many failed attempts: the account is locked for a few minutes.",
            { IsNotAllowed: true } => "The account may not sign in.",
            { RequiresTwoFactor: true } => "A second factor is required.",
            _ => user is null ? "There is no such user." : "Wrong password.",
        };
        audit.Record(SignIn, user, name, new AuditActor { Kind = AuditActorKind.Anonymous, Name = $"'{name}' (not signed in)" }, name,
            AuditDecision.Denied, AuditResult.NotRun, "authentication", reason);
        return result;
    }

    public override async Task SignOutAsync()
    {
        var name = PortalAuditRecorder.NameOf(Context.User);
        await base.SignOutAsync();
        if (name is not null)
        {
            audit.Record(SignOut, await UserManager.FindByNameAsync(name), name, PortalAuditRecorder.UserActor(name), name);
        }
    }
}
