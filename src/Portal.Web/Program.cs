using Portal.Web;
using Portal.Web.Account;
using Portal.Web.Audit;
using Portal.Web.Components;

// `reset-password <user>` (root's way back to a lost password) and `disable-user <user>`: deploy/portal runs them, then exit.
if (AccountCommands.IsCommand(args))
{
    return await AccountCommands.RunAsync(args, Console.Out, Console.Error);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddPortalServices();

var app = builder.Build();
if (!app.Environment.IsDevelopment())
{
    app.UseExceptionHandler("/error", createScopeForErrors: true);
}

app.UseAuthentication();
app.UseAuthorization();
app.UseFirstSignInPasswordChange();
app.UseAntiforgery();
// The sign-in and change-password pages need their styles and scripts before anyone has signed in or changed a one-time password.
app.MapStaticAssets().AllowAnonymous().AllowBeforePasswordChange();
app.MapAccountEndpoints();
app.MapOidcEndpoints();
app.MapAuditEndpoints();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
await app.RunAsync();
return 0;

/// <summary>Entry point, visible to tests that start the real portal.</summary>
public partial class Program;
