using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;

namespace Portal.Web.Audit;

/// <summary>
/// Identity's user manager that records the account changes made through it, wherever they come from (pages, the
/// command line, the first start): user created, deleted, disabled; password changed and reset.
/// </summary>
public sealed class AuditingUserManager(
    IUserStore<PortalUser> store,
    IOptions<IdentityOptions> optionsAccessor,
    IPasswordHasher<PortalUser> passwordHasher,
    IEnumerable<IUserValidator<PortalUser>> userValidators,
    IEnumerable<IPasswordValidator<PortalUser>> passwordValidators,
    ILookupNormalizer keyNormalizer,
    IdentityErrorDescriber errors,
    IServiceProvider services,
    ILogger<UserManager<PortalUser>> logger,
    PortalAuditRecorder audit)
    : UserManager<PortalUser>(store, optionsAccessor, passwordHasher, userValidators, passwordValidators, keyNormalizer, errors, services, logger)
{
    public override async Task<IdentityResult> CreateAsync(PortalUser user) =>
        await RecordAsync("user.create", user, await base.CreateAsync(user));

    public override async Task<IdentityResult> DeleteAsync(PortalUser user) =>
        await RecordAsync("user.delete", user, await base.DeleteAsync(user));

    public override async Task<IdentityResult> ChangePasswordAsync(PortalUser user, string currentPassword, string newPassword)
    {
        var result = await base.ChangePasswordAsync(user, currentPassword, newPassword);
        if (result.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.PasswordMismatch)))
        {
            var (actor, name) = await audit.ActorAsync();
            audit.Record("user.change-password", user, null, actor, name ?? user.UserName, AuditDecision.Denied, AuditResult.NotRun, "password", "The current password was wrong.");
            return result;
        }

        return await RecordAsync("user.change-password", user, result);
    }

    public override async Task<IdentityResult> ResetPasswordAsync(PortalUser user, string token, string newPassword) =>
        await RecordAsync("user.reset-password", user, await base.ResetPasswordAsync(user, token, newPassword));

    public override async Task<IdentityResult> SetLockoutEndDateAsync(PortalUser user, DateTimeOffset? lockoutEnd)
    {
        var result = await base.SetLockoutEndDateAsync(user, lockoutEnd);
        // Only disabling is an account change; lifting a lockout is part of a password reset, recorded as that.
        return lockoutEnd is not null && UserAccounts.IsDisabled(user) ? await RecordAsync("user.disable", user, result) : result;
    }

    private async Task<IdentityResult> RecordAsync(string action, PortalUser user, IdentityResult result)
    {
        var (actor, name) = await audit.ActorAsync();
        audit.Record(action, user, null, actor, name, result: result.Succeeded ? AuditResult.Ok : AuditResult.Failed,
            error: result.Succeeded ? null : string.Join(" ", result.Errors.Select(e => $"{e.Code}: {e.Description}")));
        return result;
    }
}
