using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Portal.Docker;

/// <summary>
/// The docker API's web application on one unix socket: Kestrel (HTTP/1.1 with the upgrade-body rewriter), the
/// engine's few singletons and its routes. <see cref="DockerApiServer"/> adds the socket's preparation and
/// ownership; tests build it on a temporary socket around a fake compute host.
/// </summary>
internal static class DockerApiApp
{
    /// <summary>Create and exec bodies are small; image loads lift this limit for themselves.</summary>
    public const long MaxJsonBodyBytes = 32L << 20;

    public static WebApplication Build(string socketPath, DockerCompute compute, ILoggerFactory loggers)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(DockerApiApp).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxJsonBodyBytes;
            kestrel.ListenUnixSocket(socketPath, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(UpgradeBodyRewriter.Middleware);
            });
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(compute);
        builder.Services.AddSingleton(compute.Host);
        builder.Services.AddSingleton<DockerExecStore>();
        builder.Services.AddSingleton<DockerAttachments>();
        builder.Services.AddSingleton<DockerAutoRemover>();

        var app = builder.Build();
        app.MapDockerApi();
        return app;
    }
}
