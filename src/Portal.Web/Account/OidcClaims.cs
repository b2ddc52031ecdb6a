using System.Security.Claims;

namespace Portal.Web.Account;

/// <summary>What the provider's claims mean to the portal: the user name and whether the user is a portal administrator.</summary>
public static class OidcClaims
{
    public const string Subject = "sub";

    /// <summary>The configured claim's value, else the subject; null when the provider sent neither.</summary>
    public static string? UserName(ClaimsPrincipal principal, PortalOidcOptions options)
    {
        foreach (var type in new[] { options.UserNameClaim, Subject, ClaimTypes.NameIdentifier })
        {
            if (principal.FindFirst(type)?.Value is { } value && !string.IsNullOrWhiteSpace(value))
            {
                return value.Trim();
            }
        }

        return null;
    }

    /// <summary>
    /// Whether the claims make a portal administrator: one value of the configured claim (a provider sends a list as
    /// one claim per value, or as a JSON array in one claim) equals the configured value. Null when no claim is configured:
    /// the portal's own flag stands.
    /// </summary>
    public static bool? IsAdministrator(ClaimsPrincipal principal, PortalOidcOptions options)
    {
        if (!options.MapsAdministrators)
        {
            return null;
        }

        return principal.FindAll(options.AdministratorsClaim).SelectMany(c => Values(c.Value))
            .Any(v => string.Equals(v, options.AdministratorsValue, StringComparison.Ordinal));
    }

    private static IEnumerable<string> Values(string value)
    {
        var trimmed = value.Trim();
        if (trimmed.StartsWith('['))
        {
            string[]? array = null;
            try
            {
                array = System.Text.Json.JsonSerializer.Deserialize<string[]>(trimmed);
            }
            catch (System.Text.Json.JsonException)
            {
            }

            if (array is not null)
            {
                return array;
            }
        }

        return [trimmed];
    }
}
