using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;
using Portal.Web.Data;

namespace Portal.Web.Account;

public static class AccountEndpoints
{
    public const string LoginPath = "/account/login";
    public const string ChangePasswordPath = "/account/change-password";
    public const string AccessDeniedPath = "/account/access-denied";

    public static void MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        // A form post from the layout's sign-out button, with the page's anti-forgery token. A minimal API endpoint that
        // binds no form is not checked by UseAntiforgery, so it checks here: SameSite=Strict keeps the cookie from other
        // sites, not from another origin of the same site (a sibling subdomain, another port of the host).
        app.MapPost("/account/logout", async (HttpContext context, IAntiforgery antiforgery, SignInManager<PortalUser> signIn) =>
        {
            if (!await antiforgery.IsRequestValidAsync(context))
            {
                return Results.Problem("The sign-out form's anti-forgery token is missing or invalid: sign out with the portal's Sign out button.",
                    statusCode: StatusCodes.Status400BadRequest, title: "Bad sign-out request");
            }

            await signIn.SignOutAsync();
            return Results.LocalRedirect(LoginPath);
        });
    }

    /// <summary>
    /// A user who signed in with a one-time password sees nothing but the change-password page until they have changed it.
    /// What passes is an explicit list: the account pages, the framework's own paths, and the endpoints marked
    /// <see cref="AllowedBeforePasswordChange"/> (the static assets, by their endpoint), so that page can render. A path's
    /// shape proves nothing: <c>/containers/a.b</c> is a page like any other.
    /// </summary>
    public static IApplicationBuilder UseFirstSignInPasswordChange(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.User.HasClaim(c => c.Type == PortalClaims.MustChangePassword) && !MayPassBeforePasswordChange(context))
        {
            context.Response.Redirect(ChangePasswordPath);
            return;
        }

        await next(context);
    });

    /// <summary>Marks endpoints a user may reach before changing a one-time password (the static assets).</summary>
    public static TBuilder AllowBeforePasswordChange<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(AllowedBeforePasswordChange.Instance);

    private static bool MayPassBeforePasswordChange(HttpContext context)
    {
        var path = context.Request.Path;
        return path.StartsWithSegments("/account")
            || path.StartsWithSegments("/_framework")
            || path.StartsWithSegments("/_blazor")
            || context.GetEndpoint()?.Metadata.GetMetadata<AllowedBeforePasswordChange>() is not null;
    }
}

/// <summary>Endpoint metadata: reachable before a one-time password is changed.</summary>
public sealed class AllowedBeforePasswordChange
{
    public static readonly AllowedBeforePasswordChange Instance = new();

    private AllowedBeforePasswordChange()
    {
    }
}
