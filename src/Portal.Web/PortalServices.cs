using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MudBlazor.Services;
using Portal.Client;
using Portal.Web.Account;
using Portal.Web.Audit;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Model;
using Portal.Web.Teams;

namespace Portal.Web;

public static class PortalServices
{
    public static void AddPortalServices(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection("Portal");
        builder.Services.Configure<PortalOptions>(section);
        var options = section.Get<PortalOptions>() ?? new PortalOptions();
        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp)
        {
            throw new InvalidOperationException($"Portal:Url '{options.Url}' must be an http:// address such as http://127.0.0.1:5080 (put TLS in a reverse proxy in front).");
        }

        builder.WebHost.UseUrls(options.Url);
        // Serve MudBlazor's and our static files from the build output too (deploy/portal runs the build, not a publish);
        // a published portal has no static web assets manifest and this is a no-op there.
        builder.WebHost.UseStaticWebAssets();

        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        builder.Services.AddSingleton(TimeProvider.System);

        // Portal state: users and the host registry, in SQLite or PostgreSQL.
        PortalStorage.From(builder.Configuration, options).AddTo(builder.Services);
        // Keys are stored unencrypted on Linux (there is no DPAPI): only the portal's user may read the directory.
        if (!OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(options.KeysDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        builder.Services.AddDataProtection()
            .SetApplicationName("Portal.Web")
            .PersistKeysToFileSystem(new DirectoryInfo(options.KeysDirectory));

        // Sign-in: ASP.NET Core Identity with cookies; nothing is shown to anonymous visitors (the fallback policy).
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddAuthentication(IdentityConstants.ApplicationScheme).AddIdentityCookies();
        // An external OpenID Connect provider, when Portal:Oidc:Authority is set; local accounts stay.
        builder.Services.AddPortalOidc(builder.Configuration);
        builder.Services.ConfigureApplicationCookie(o =>
        {
            o.LoginPath = AccountEndpoints.LoginPath;
            o.AccessDeniedPath = AccountEndpoints.AccessDeniedPath;
            o.Cookie.Name = "portal.auth";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.SlidingExpiration = true;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
        });
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        builder.Services.AddIdentityCore<PortalUser>(IdentityRules)
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddSignInManager()
            .AddClaimsPrincipalFactory<PortalClaims>()
            .AddDefaultTokenProviders();
        // Sessions end soon after their user is disabled, deleted or gets a new security stamp: circuits and cookies alike.
        if (options.UserRevalidationInterval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Portal:UserRevalidationInterval '{options.UserRevalidationInterval}' must be positive, such as 00:00:05.");
        }

        builder.Services.AddScoped<Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider, UserRevalidation>();
        builder.Services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = options.UserRevalidationInterval);
        builder.Services.Replace(ServiceDescriptor.Scoped<ISecurityStampValidator, PortalSecurityStampValidator>());

        // Agents: the registry, one live connection per host, and circuit-scoped helpers for pages.
        // Named in the User-Agent, so the agents' audit trails record the portal as the entry point.
        builder.Services.AddSingleton<IAgentClientFactory>(new AgentClientFactory(AgentClientFactory.UserAgentOf<PortalOptions>("Portal.Web")));
        builder.Services.AddSingleton<HostRegistry>();
        builder.Services.AddHostedService<PortalDatabase>();
        builder.Services.AddSingleton<Fleet>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Fleet>());
        builder.Services.AddScoped<ContainerOperations>();

        // Teams: kept in the portal's database, pushed to every agent (which enforces them), acted for per circuit.
        builder.Services.AddSingleton<TeamDirectory>();
        builder.Services.AddSingleton<TeamSync>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TeamSync>());
        builder.Services.AddScoped<ActingSession>();
        builder.Services.AddScoped<SessionFleet>();
        builder.AddPortalAudit();
    }

    /// <summary>Password and lockout rules (the change-password page states the same).</summary>
    public static void IdentityRules(IdentityOptions o)
    {
        o.Password.RequiredLength = 12;
        o.Lockout.MaxFailedAccessAttempts = 5;
        o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(5);
        o.User.RequireUniqueEmail = false;
    }
}
