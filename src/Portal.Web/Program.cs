using Portal.Web;
using Portal.Web.Account;
using Portal.Web.Components;

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
// The sign-in page needs its styles and scripts before anyone has signed in.
app.MapStaticAssets().AllowAnonymous();
app.MapAccountEndpoints();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.Run();

/// <summary>Entry point, visible to tests that start the real portal.</summary>
public partial class Program;
