using Microsoft.AspNetCore.Identity;
using Portal.Web.Data;

namespace Portal.Web.Account;

public static class AccountEndpoints
{
    public const string LoginPath = "/account/login";
    public const string ChangePasswordPath = "/account/change-password";

    public static void MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        // A form post (with its antiforgery token) from the layout's sign-out button.
        app.MapPost("/account/logout", async (SignInManager<PortalUser> signIn) =>
        {
            await signIn.SignOutAsync();
            return Results.LocalRedirect(LoginPath);
        });
    }

    /// <summary>
    /// A user who signed in with a one-time password sees nothing but the change-password page until they have changed it.
    /// Static assets and the framework's own paths pass, so that page can render.
    /// </summary>
    public static IApplicationBuilder UseFirstSignInPasswordChange(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var path = context.Request.Path;
        if (context.User.HasClaim(c => c.Type == PortalClaims.MustChangePassword)
            && !path.StartsWithSegments("/account")
            && !path.StartsWithSegments("/_framework")
            && !path.StartsWithSegments("/_content")
            && !path.StartsWithSegments("/_blazor")
            && Path.GetExtension(path.Value) is null or "")
        {
            context.Response.Redirect(ChangePasswordPath);
            return;
        }

        await next(context);
    });
}
