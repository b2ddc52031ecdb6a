using Microsoft.AspNetCore.Authorization;

namespace Portal.Web.Audit;

/// <summary>
/// Who may read the audit trail: administrators. Today every portal user is an administrator (there are no roles yet),
/// so the policy asks for a signed-in user; when roles land it asks for the Administrator role here, in one place.
/// </summary>
public static class AuditAccess
{
    public const string Policy = "audit-read";

    public static void Configure(AuthorizationPolicyBuilder policy) => policy.RequireAuthenticatedUser();
}
