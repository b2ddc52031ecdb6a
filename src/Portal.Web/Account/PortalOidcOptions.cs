namespace Portal.Web.Account;

/// <summary>
/// Sign-in through an external OpenID Connect provider (Keycloak, Entra ID, Google ...): the "Portal:Oidc" section.
/// Off while <see cref="Authority"/> is empty. Local accounts stay available beside it.
/// </summary>
public sealed class PortalOidcOptions
{
    public const string Section = "Portal:Oidc";

    /// <summary>The provider's issuer address (its discovery document is at /.well-known/openid-configuration); empty: off.</summary>
    public string Authority { get; set; } = "";

    public string ClientId { get; set; } = "";

    /// <summary>The client secret (a confidential client); empty for a public client, which PKCE still protects.</summary>
    public string ClientSecret { get; set; } = "";

    /// <summary>The scopes asked for, space-separated; <c>openid</c> is always asked.</summary>
    public string Scopes { get; set; } = "openid profile";

    /// <summary>The claim that names the portal user; when the provider does not send it, <c>sub</c> does.</summary>
    public string UserNameClaim { get; set; } = "preferred_username";

    /// <summary>With <see cref="AdministratorsValue"/>: the claim (such as <c>groups</c> or <c>roles</c>) that makes a portal administrator.</summary>
    public string AdministratorsClaim { get; set; } = "";

    /// <summary>The value of <see cref="AdministratorsClaim"/> (such as <c>portal-admins</c>) that makes a portal administrator.</summary>
    public string AdministratorsValue { get; set; } = "";

    /// <summary>The sign-in page's button says "Sign in with" this.</summary>
    public string DisplayName { get; set; } = "single sign-on";

    /// <summary>
    /// Whether a first provider sign-in may take over a local account of the same user name (it then signs in through
    /// either). Off: such a sign-in is refused, so nobody at the provider can claim a local account by picking its name.
    /// </summary>
    public bool LinkLocalAccounts { get; set; }

    /// <summary>
    /// The address users reach the portal at (such as https://portal.example.com behind a TLS reverse proxy): the
    /// provider sends them back to it. Empty: the request's own address.
    /// </summary>
    public string PublicUrl { get; set; } = "";

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);

    public bool MapsAdministrators => !string.IsNullOrWhiteSpace(AdministratorsClaim);

    /// <summary>Throws with what to fix when the section is on but incomplete.</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            return;
        }

        if (!Uri.TryCreate(Authority, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http"))
        {
            throw new InvalidOperationException($"{Section}:Authority '{Authority}' must be the provider's issuer address, such as https://keycloak.example.com/realms/main (or empty to turn OpenID Connect sign-in off).");
        }

        if (authority.Scheme == "http" && !authority.IsLoopback)
        {
            throw new InvalidOperationException($"{Section}:Authority '{Authority}' must use https (plain http is only accepted on the loopback address).");
        }

        if (string.IsNullOrWhiteSpace(ClientId))
        {
            throw new InvalidOperationException($"{Section}:ClientId is empty: set the client id the provider gave the portal (or empty Authority to turn OpenID Connect sign-in off).");
        }

        if (string.IsNullOrWhiteSpace(UserNameClaim))
        {
            throw new InvalidOperationException($"{Section}:UserNameClaim is empty: name the claim with the user name, such as preferred_username or email.");
        }

        if (MapsAdministrators != !string.IsNullOrWhiteSpace(AdministratorsValue))
        {
            throw new InvalidOperationException($"{Section}:AdministratorsClaim and AdministratorsValue go together (such as groups and portal-admins): set both or neither.");
        }

        if (PublicUrl.Length > 0 && (!Uri.TryCreate(PublicUrl, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http")))
        {
            throw new InvalidOperationException($"{Section}:PublicUrl '{PublicUrl}' must be the portal's address as users reach it, such as https://portal.example.com.");
        }
    }
}
