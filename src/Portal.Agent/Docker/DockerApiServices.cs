using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Portal.Agent.Docker;

public static class DockerApiServices
{
    /// <summary>
    /// Serves the Docker Engine API on its own unix socket (Agent:DockerSocket), as a second small web application in
    /// the agent's process that shares the agent's compute host. There is no TCP listener for the docker API.
    /// </summary>
    public static IServiceCollection AddDockerApi(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.Configure<DockerApiOptions>(configuration.GetSection("Agent"));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DockerApiServer>());
        return services;
    }
}
