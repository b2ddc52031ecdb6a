using Microsoft.AspNetCore.Authorization;

namespace Portal.Web.Audit;

/// <summary>
/// Who may read the audit trail (the page and its export): the portal's administrators, in one place.
/// </summary>
public static class AuditAccess
{
    public const string Policy = "audit-read";

    public static void Configure(AuthorizationPolicyBuilder policy) => policy.RequireRole(Account.PortalRoles.Administrator);
}
