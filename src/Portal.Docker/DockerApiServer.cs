using System.Net;
using Microsoft.Extensions.Options;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Docker.Tls;

namespace Portal.Docker;

/// <summary>
/// The docker API's own small web application, started with the agent: Kestrel on a unix socket and, when
/// Agent:DockerTls:Listen is set, on a TCP port with mutual TLS for team members' client certificates, sharing the
/// agent's compute host. Kept apart from the agent's API so its auth and error model stay separate.
/// </summary>
public sealed class DockerApiServer(
    DockerCompute compute,
    IOptions<DockerApiOptions> options,
    DockerCertificateAuthority authority,
    IServiceProvider services,
    ILoggerFactory loggers,
    ILogger<DockerApiServer> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;
    private string? _socketPath;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var tlsEndPoint = ParseListen(settings.DockerTls.Listen);
        if (string.IsNullOrWhiteSpace(settings.DockerSocket) && tlsEndPoint is null)
        {
            logger.LogInformation("The docker API is off (Agent:DockerSocket and Agent:DockerTls:Listen are empty)");
            return;
        }

        string? path = null;
        var createdDirectory = false;
        if (!string.IsNullOrWhiteSpace(settings.DockerSocket))
        {
            path = Path.GetFullPath(settings.DockerSocket);
            createdDirectory = DockerSocket.Prepare(path);
        }

        DockerTlsListener? tls = null;
        if (tlsEndPoint is not null)
        {
            await authority.EnsureCaAsync(cancellationToken).ConfigureAwait(false);
            authority.ServerCertificate(tlsEndPoint.Address); // made now: a bad Agent:DockerTls:Names fails the start, not a handshake
            tls = new DockerTlsListener(tlsEndPoint, authority,
                services.GetService<TeamStore>() ?? throw new InvalidOperationException("The docker TLS listener needs the agent's team store."),
                services.GetService<AuditTrail>() ?? throw new InvalidOperationException("The docker TLS listener needs the agent's audit trail."));
        }

        var app = DockerApiApp.Build(path, tls, compute, loggers);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        if (path is not null)
        {
            _socketPath = path;
            DockerSocket.Secure(path, settings.DockerSocketGroup, createdDirectory);
            logger.LogInformation("Docker API listening on unix://{Socket}", path);
        }

        if (tlsEndPoint is not null)
        {
            logger.LogInformation("Docker API listening on tcp://{EndPoint} with mutual TLS (team certificates from {Ca})", tlsEndPoint, authority.Ca.Subject);
        }

        app.Services.GetRequiredService<DockerAutoRemover>().Start();
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

    /// <summary>Agent:DockerTls:Listen as an end point ("0.0.0.0:2376", "[::]:2376"); null when empty.</summary>
    public static IPEndPoint? ParseListen(string? listen)
    {
        if (string.IsNullOrWhiteSpace(listen))
        {
            return null;
        }

        if (!IPEndPoint.TryParse(listen.Trim(), out var endPoint) || endPoint.Port == 0)
        {
            throw new InvalidOperationException($"Agent:DockerTls:Listen '{listen}' is not an address and port: use e.g. 0.0.0.0:2376, [::]:2376 or 127.0.0.1:2376, or leave it empty to turn the listener off.");
        }

        return endPoint;
    }
}
