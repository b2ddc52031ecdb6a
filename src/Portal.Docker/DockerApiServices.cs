using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Compute;
using Portal.Docker.Tls;

namespace Portal.Docker;

public static class DockerApiServices
{
    /// <summary>
    /// Serves the Docker Engine API on its own unix socket (Agent:DockerSocket) and, when Agent:DockerTls:Listen is set,
    /// over TCP with mutual TLS for team members, as a second small web application in the host's process that shares
    /// the host's compute services (<paramref name="compute"/>: the compute host and when it is ready). The TLS listener
    /// needs the host's <see cref="Portal.Compute.Teams.TeamStore"/> and <see cref="Portal.Compute.Audit.AuditTrail"/>.
    /// </summary>
    public static IServiceCollection AddDockerApi(this IServiceCollection services, IConfiguration configuration, Func<IServiceProvider, DockerCompute> compute)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(compute);
        services.Configure<DockerApiOptions>(configuration.GetSection("Agent"));
        services.TryAddSingleton(compute);
        // The CA is used by the listener and by the agent's issue endpoint; it is made on first use.
        services.TryAddSingleton(sp => new DockerCertificateAuthority(
            sp.GetRequiredService<IOptions<DockerApiOptions>>().Value.DockerTls,
            DockerCertificateAuthority.DirectoryUnder(sp.GetRequiredService<IOptions<ComputeOptions>>().Value.StateRoot)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DockerApiServer>());
        return services;
    }
}
