using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Portal.Client;
using Portal.Web.Data;

namespace Portal.Web.Audit;

public static class AuditServices
{
    /// <summary>
    /// The audit trail: the portal's own (sign-ins and account changes, recorded by Identity's managers), the collector
    /// over every host's, and who may read it. After AddIdentityCore, whose managers it replaces.
    /// </summary>
    public static void AddPortalAudit(this WebApplicationBuilder builder) => builder.Services.AddPortalAudit(builder.Configuration);

    /// <inheritdoc cref="AddPortalAudit(WebApplicationBuilder)"/>
    public static IServiceCollection AddPortalAudit(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<PortalAuditOptions>(configuration.GetSection("Portal"));
        (configuration.GetSection("Portal").Get<PortalAuditOptions>() ?? new PortalAuditOptions()).Validate();
        services.AddHttpContextAccessor();
        services.AddSingleton<PortalAuditLog>();
        services.AddScoped<PortalAuditRecorder>();
        services.Replace(ServiceDescriptor.Scoped<UserManager<PortalUser>, AuditingUserManager>());
        services.Replace(ServiceDescriptor.Scoped<SignInManager<PortalUser>, AuditingSignInManager>());
        services.AddSingleton<IAgentAuditClientFactory>(new AgentAuditClientFactory(AgentClientFactory.UserAgentOf<PortalOptions>("Portal.Web")));
        services.AddSingleton<AuditCollector>();
        services.AddSingleton<IAuditSource>(sp => sp.GetRequiredService<AuditCollector>());
        services.AddHostedService(sp => sp.GetRequiredService<AuditCollector>());
        services.AddAuthorizationBuilder().AddPolicy(AuditAccess.Policy, AuditAccess.Configure);
        return services;
    }
}
