using Microsoft.AspNetCore.Identity;

namespace Portal.Web.Data;

/// <summary>A person who may sign in to the portal.</summary>
public sealed class PortalUser : IdentityUser
{
    /// <summary>Set for the first-run administrator's one-time password: every page leads to changing it first.</summary>
    public bool MustChangePassword { get; set; }
}
