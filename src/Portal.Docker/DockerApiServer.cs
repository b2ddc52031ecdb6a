using Microsoft.Extensions.Options;

namespace Portal.Docker;

/// <summary>
/// The docker socket's own small web application, started with the agent: Kestrel on a unix socket only, sharing
/// the agent's compute host. Kept apart from the agent's API so its auth and error model stay separate.
/// </summary>
public sealed class DockerApiServer(
    DockerCompute compute,
    IOptions<DockerApiOptions> options,
    ILoggerFactory loggers,
    ILogger<DockerApiServer> logger) : IHostedService, IAsyncDisposable
{
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
        var app = DockerApiApp.Build(path, compute, loggers);
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
