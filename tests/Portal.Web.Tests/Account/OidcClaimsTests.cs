using System.Security.Claims;
using Portal.Web.Account;

namespace Portal.Web.Tests.Account;

public sealed class OidcClaimsTests
{
    private static readonly PortalOidcOptions Options = new()
    {
        Authority = "https://idp.example.com",
        ClientId = "portal",
        AdministratorsClaim = "groups",
        AdministratorsValue = "portal-admins",
    };

    private static ClaimsPrincipal Principal(params (string Type, string Value)[] claims) =>
        new(new ClaimsIdentity(claims.Select(c => new Claim(c.Type, c.Value)), "oidc"));

    [Fact]
    public void The_user_name_is_the_configured_claim_else_the_subject()
    {
        Assert.Equal("ann", OidcClaims.UserName(Principal(("sub", "123"), ("preferred_username", " ann ")), Options));
        Assert.Equal("123", OidcClaims.UserName(Principal(("sub", "123")), Options));
        Assert.Equal("123", OidcClaims.UserName(Principal(("sub", "123"), ("preferred_username", "  ")), Options));
        Assert.Equal("ann@example.com", OidcClaims.UserName(Principal(("sub", "123"), ("email", "ann@example.com")), new PortalOidcOptions { UserNameClaim = "email" }));
        Assert.Null(OidcClaims.UserName(Principal(("name", "Ann")), Options));
    }

    [Theory]
    [InlineData(new[] { "portal-admins" }, true)]
    [InlineData(new[] { "staff", "portal-admins" }, true)]
    [InlineData(new[] { "[\"staff\",\"portal-admins\"]" }, true)]
    [InlineData(new[] { "staff" }, false)]
    [InlineData(new[] { "Portal-Admins" }, false)]
    [InlineData(new[] { "portal-admins-old" }, false)]
    [InlineData(new string[0], false)]
    public void The_administrators_claim_value_makes_an_administrator(string[] groups, bool administrator) =>
        Assert.Equal(administrator, OidcClaims.IsAdministrator(Principal([.. groups.Select(g => ("groups", g))]), Options));

    [Fact]
    public void Without_an_administrators_claim_the_portals_own_flag_stands() =>
        Assert.Null(OidcClaims.IsAdministrator(Principal(("groups", "portal-admins")), new PortalOidcOptions { Authority = "https://idp.example.com", ClientId = "portal" }));

    [Theory]
    [InlineData("idp.example.com", "portal", "", "", "must be the provider's issuer address")]
    [InlineData("http://idp.example.com", "portal", "", "", "must use https")]
    [InlineData("https://idp.example.com", "", "", "", "ClientId is empty")]
    [InlineData("https://idp.example.com", "portal", "groups", "", "go together")]
    [InlineData("https://idp.example.com", "portal", "", "portal-admins", "go together")]
    public void An_incomplete_section_is_refused_with_what_to_fix(string authority, string clientId, string claim, string value, string message)
    {
        var options = new PortalOidcOptions { Authority = authority, ClientId = clientId, AdministratorsClaim = claim, AdministratorsValue = value };
        Assert.Contains(message, Assert.Throws<InvalidOperationException>(options.Validate).Message);
    }

    [Fact]
    public void Off_without_an_authority_and_plain_http_only_on_loopback()
    {
        new PortalOidcOptions().Validate();
        Assert.False(new PortalOidcOptions().Enabled);
        new PortalOidcOptions { Authority = "http://127.0.0.1:8080/realms/test", ClientId = "portal" }.Validate();
    }
}
