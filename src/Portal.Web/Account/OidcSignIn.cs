using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Identity;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Audit;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>
/// Sign-in through an external OpenID Connect provider (<see cref="PortalOidcOptions"/>): the authorization code flow
/// with PKCE lands in Identity's external cookie, then <see cref="CallbackPath"/> finds, links or makes the portal user
/// (by the provider's login, else by user name) and signs it in with the portal's own cookie. From there it is a portal
/// user like any other: roles, teams by user name, revalidation and the audit trail do not know how it signed in.
/// </summary>
public static class OidcSignIn
{
    public const string Scheme = "oidc";
    public const string ChallengePath = "/account/oidc";
    public const string CallbackPath = "/account/oidc/callback";

    /// <summary>Where the provider sends the browser back with the authorization code (the handler's own path).</summary>
    public const string ProviderCallbackPath = "/signin-oidc";

    /// <summary>The sign-in page's <c>?oidc=</c> codes: why a provider sign-in was refused (never free text from the query).</summary>
    public static class Refusal
    {
        public const string Failed = "failed";
        public const string NoUserName = "no-user-name";
        public const string LocalAccount = "local-account";
        public const string TakenByAnother = "taken";
        public const string Disabled = "disabled";
        public const string Unreachable = "unreachable";
    }

    public static void AddPortalOidc(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(PortalOidcOptions.Section);
        services.Configure<PortalOidcOptions>(section);
        var options = section.Get<PortalOidcOptions>() ?? new PortalOidcOptions();
        options.Validate();
        if (!options.Enabled)
        {
            return;
        }

        services.AddAuthentication().AddOpenIdConnect(Scheme, options.DisplayName, oidc =>
        {
            // The handler only lands in Identity's short-lived external cookie; the callback makes the portal's sign-in.
            oidc.SignInScheme = IdentityConstants.ExternalScheme;
            oidc.Authority = options.Authority;
            oidc.RequireHttpsMetadata = new Uri(options.Authority).Scheme == Uri.UriSchemeHttps;
            oidc.ClientId = options.ClientId;
            oidc.ClientSecret = string.IsNullOrWhiteSpace(options.ClientSecret) ? null : options.ClientSecret;
            oidc.ResponseType = "code";
            oidc.UsePkce = true;
            oidc.CallbackPath = ProviderCallbackPath;
            oidc.Scope.Clear();
            foreach (var scope in ("openid " + options.Scopes).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal))
            {
                oidc.Scope.Add(scope);
            }

            // The claims as the provider names them (groups stays groups), so the configured claim names mean what they say.
            oidc.MapInboundClaims = false;
            oidc.TokenValidationParameters.NameClaimType = options.UserNameClaim;
            oidc.SaveTokens = false;
            // The code comes back on a top-level GET (query response mode), which SameSite=Lax cookies survive over
            // http and https alike; form_post would need SameSite=None, which browsers drop without TLS.
            oidc.ResponseMode = OpenIdConnectResponseMode.Query;
            oidc.CorrelationCookie.SameSite = SameSiteMode.Lax;
            oidc.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            oidc.NonceCookie.SameSite = SameSiteMode.Lax;
            oidc.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            oidc.Events.OnRedirectToIdentityProvider = context =>
            {
                if (options.PublicUrl.Length > 0)
                {
                    context.ProtocolMessage.RedirectUri = options.PublicUrl.TrimEnd('/') + ProviderCallbackPath;
                }

                return Task.CompletedTask;
            };
            oidc.Events.OnTokenValidated = context =>
            {
                // Identity finds the provider's key for the user as NameIdentifier: the subject, which never changes.
                if (context.Principal?.Identity is ClaimsIdentity identity && identity.FindFirst(OidcClaims.Subject) is { } sub
                    && identity.FindFirst(ClaimTypes.NameIdentifier) is null)
                {
                    identity.AddClaim(new Claim(ClaimTypes.NameIdentifier, sub.Value));
                }

                return Task.CompletedTask;
            };
            oidc.Events.OnRemoteFailure = context =>
            {
                // Cancelled at the provider, a bad state or token: back to the sign-in page with a plain message, recorded.
                var audit = context.HttpContext.RequestServices.GetRequiredService<PortalAuditRecorder>();
                RecordRefusal(audit, options, null, null, $"The provider's answer was refused: {context.Failure?.Message}");
                context.Response.Redirect($"{AccountEndpoints.LoginPath}?oidc={Refusal.Failed}");
                context.HandleResponse();
                return Task.CompletedTask;
            };
        });
    }

    public static void MapOidcEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(ChallengePath, async (string? returnUrl, HttpContext context, SignInManager<PortalUser> signIn, IOptions<PortalOidcOptions> options,
            PortalAuditRecorder audit, ILogger<PortalOidcOptions> log) =>
        {
            if (!options.Value.Enabled)
            {
                return Results.NotFound();
            }

            var callback = $"{CallbackPath}?returnUrl={Uri.EscapeDataString(Components.Account.Login.SafeReturnUrl(returnUrl))}";
            try
            {
                await context.ChallengeAsync(Scheme, signIn.ConfigureExternalAuthenticationProperties(Scheme, callback));
                return Results.Empty;
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException)
            {
                // The provider's discovery document could not be read (the provider is down or the Authority is wrong).
                log.LogWarning(e, "OpenID Connect sign-in: the provider at {Authority} could not be reached", options.Value.Authority);
                RecordRefusal(audit, options.Value, null, null, $"The provider could not be reached: {e.Message}");
                return Refused(Refusal.Unreachable);
            }
        }).AllowAnonymous();

        app.MapGet(CallbackPath, CallbackAsync).AllowAnonymous();
    }

    private static async Task<IResult> CallbackAsync(
        string? returnUrl, HttpContext context, SignInManager<PortalUser> signIn, UserManager<PortalUser> users,
        IOptions<PortalOidcOptions> optionsAccessor, PortalAuditRecorder audit)
    {
        var options = optionsAccessor.Value;
        if (!options.Enabled)
        {
            return Results.NotFound();
        }

        var info = await signIn.GetExternalLoginInfoAsync();
        if (info is null)
        {
            RecordRefusal(audit, options, null, null, "No provider sign-in was in progress (it expired or was used already).");
            return Refused(Refusal.Failed);
        }

        var account = await OidcAccounts.FindOrCreateAsync(users, info, info.Principal, options);
        if (account is not { User: { } user, Refusal: null })
        {
            return await RefuseAsync(account.User, account.UserName, account.Refusal ?? Refusal.Failed, account.Reason ?? "No portal user.");
        }

        var name = user.UserName!;
        var result = await signIn.ExternalLoginSignInAsync(info.LoginProvider, info.ProviderKey, isPersistent: false, bypassTwoFactor: true);
        if (!result.Succeeded)
        {
            return await RefuseAsync(user, name, result.IsLockedOut ? Refusal.Disabled : Refusal.Failed,
                result.IsLockedOut ? "The account is locked." : "The account may not sign in.");
        }

        audit.Record(AuditingSignInManager.SignIn, user, name, PortalAuditRecorder.UserActor(name), name,
            details: Details(options));
        return LandingPage(Components.Account.Login.SafeReturnUrl(returnUrl));

        async Task<IResult> RefuseAsync(PortalUser? target, string? userName, string code, string reason)
        {
            await context.SignOutAsync(IdentityConstants.ExternalScheme);
            RecordRefusal(audit, options, target, userName, reason);
            return Refused(code);
        }
    }

    private static void RecordRefusal(PortalAuditRecorder audit, PortalOidcOptions options, PortalUser? target, string? userName, string reason) =>
        audit.Record(AuditingSignInManager.SignIn, target, userName,
            new AuditActor { Kind = AuditActorKind.Anonymous, Name = $"'{userName ?? "?"}' at {options.DisplayName} (not signed in)" }, userName,
            AuditDecision.Denied, AuditResult.NotRun, "authentication", reason, details: Details(options));

    private static Dictionary<string, string> Details(PortalOidcOptions options) =>
        new() { ["method"] = "openid-connect", ["provider"] = options.DisplayName, ["authority"] = options.Authority };

    private static IResult Refused(string code) => Results.Redirect($"{AccountEndpoints.LoginPath}?oidc={code}");

    /// <summary>
    /// The way on after signing in is a new navigation from a portal page, not a redirect: the sign-in cookie is
    /// SameSite=Strict, and a browser does not send it on the rest of a redirect chain that began at the provider.
    /// </summary>
    private static IResult LandingPage(string path)
    {
        var url = WebUtility.HtmlEncode(path);
        return Results.Content($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}"><title>Signed in</title></head>
            <body><p>Signed in. <a href="{url}">Continue</a>.</p></body></html>
            """, "text/html; charset=utf-8");
    }
}
