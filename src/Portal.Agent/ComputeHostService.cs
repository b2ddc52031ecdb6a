using Microsoft.Extensions.Options;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Agent;

/// <summary>
/// Starts the compute stack with the agent and is the agent's <see cref="IComputeHost"/>: every front end (REST, hub,
/// docker socket) holds this one object. Until the stack is ready the REST API answers 503 (one endpoint filter,
/// <see cref="ComputeReadiness"/>), the docker API likewise (its own filter, in docker's error format, fed by
/// <see cref="Ready"/>), and hub calls wait for it (<see cref="Hub.ComputeErrorHubFilter"/>).
/// </summary>
public sealed class ComputeHostService(IOptions<ComputeOptions> options, ILoggerFactory loggers, ILogger<ComputeHostService> logger) : IHostedService, IComputeHost, IAsyncDisposable
{
    private readonly TaskCompletionSource<ComputeHost> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile ComputeHost? _host;

    /// <summary>Completes when the compute stack is ready (fails when it could not start).</summary>
    public Task Ready => _ready.Task;

    public bool IsReady => _host is not null;

    public IContainerService Containers => Host.Containers;

    public IImageService Images => Host.Images;

    public ISwitchService Switches => Host.Switches;

    public IHostProcessView HostProcesses => Host.HostProcesses;

    public HostInfo GetHostInfo() => Host.GetHostInfo();

    public const string StartingMessage = "The agent is still starting (probing runtimes, loading containers): try again in a few seconds.";

    private ComputeHost Host => _host ?? throw new ComputeException(ComputeErrorCode.Unavailable, StartingMessage);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var host = await ComputeHost.StartAsync(options.Value, loggers, cancellationToken);
            var info = host.GetHostInfo();
            logger.LogInformation(
                "Compute ready: {Runtime} {Version} ({Reason}); cgroups {Cgroups}; {Containers} containers ({Running} running), {Images} images",
                info.ProcessRuntime.Name, info.ProcessRuntime.Version, info.ProcessRuntime.Reason, info.CgroupMode, info.Containers, info.RunningContainers, info.Images);
            _host = host;
            _ready.SetResult(host);
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_host is { } host)
        {
            await host.DisposeAsync();
        }
    }
}
