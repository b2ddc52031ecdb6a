using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Portal.Docker;

public static class DockerApiServices
{
    /// <summary>
    /// Serves the Docker Engine API on its own unix socket (Agent:DockerSocket), as a second small web application in
    /// the host's process that shares the host's compute services (<paramref name="compute"/>: the compute host and
    /// when it is ready). There is no TCP listener for the docker API.
    /// </summary>
    public static IServiceCollection AddDockerApi(this IServiceCollection services, IConfiguration configuration, Func<IServiceProvider, DockerCompute> compute)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(compute);
        services.Configure<DockerApiOptions>(configuration.GetSection("Agent"));
        services.TryAddSingleton(compute);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DockerApiServer>());
        return services;
    }
}
