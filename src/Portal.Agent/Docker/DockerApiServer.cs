using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Portal.Compute;

namespace Portal.Agent.Docker;

/// <summary>
/// The docker socket's own small web application, started with the agent: Kestrel on a unix socket only, sharing
/// the agent's singleton compute host. Kept apart from the agent's API so its auth and error model stay separate.
/// </summary>
public sealed class DockerApiServer(
    IServiceProvider agentServices,
    IOptions<DockerApiOptions> options,
    ILoggerFactory loggers,
    ILogger<DockerApiServer> logger) : IHostedService, IAsyncDisposable
{
    /// <summary>Create and exec bodies are small; image loads lift this limit for themselves.</summary>
    private const long MaxJsonBodyBytes = 32L << 20;

    private WebApplication? _app;
    private string? _socketPath;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (string.IsNullOrWhiteSpace(settings.DockerSocket))
        {
            logger.LogInformation("The docker API is off (Agent:DockerSocket is empty)");
            return;
        }

        var path = Path.GetFullPath(settings.DockerSocket);
        var createdDirectory = DockerSocket.Prepare(path);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(DockerApiServer).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxJsonBodyBytes;
            kestrel.ListenUnixSocket(path, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(UpgradeBodyRewriter.Middleware);
            });
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(agentServices.GetRequiredService<ComputeHostService>());
        builder.Services.AddSingleton(agentServices.GetRequiredService<IOptions<ComputeOptions>>());
        builder.Services.AddSingleton<DockerEngine>();
        builder.Services.AddSingleton<DockerExecStore>();
        builder.Services.AddSingleton<DockerAttachments>();
        builder.Services.AddSingleton<DockerAutoRemover>();

        var app = builder.Build();
        app.MapDockerApi();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        _socketPath = path;
        DockerSocket.Secure(path, settings.DockerSocketGroup, createdDirectory);
        app.Services.GetRequiredService<DockerAutoRemover>().Start();
        logger.LogInformation("Docker API listening on unix://{Socket}", path);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.DisposeAsync().ConfigureAwait(false);
        }

        if (_socketPath is { } path && File.Exists(path))
        {
            File.Delete(path);
        }
    }
}
