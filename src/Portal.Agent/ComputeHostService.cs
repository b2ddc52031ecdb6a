using Microsoft.Extensions.Options;
using Portal.Compute;

namespace Portal.Agent;

/// <summary>Starts the compute stack with the agent and hands it to the endpoints once ready.</summary>
public sealed class ComputeHostService(IOptions<ComputeOptions> options, ILoggerFactory loggers, ILogger<ComputeHostService> logger) : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource<ComputeHost> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<ComputeHost> Ready => _ready.Task;

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var host = await ComputeHost.StartAsync(options.Value, loggers, cancellationToken);
            var info = host.GetHostInfo();
            logger.LogInformation(
                "Compute ready: {Runtime} {Version} ({Reason}); cgroups {Cgroups}; {Containers} containers ({Running} running), {Images} images",
                info.ProcessRuntime.Name, info.ProcessRuntime.Version, info.ProcessRuntime.Reason, info.CgroupMode, info.Containers, info.RunningContainers, info.Images);
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
        if (_ready.Task.IsCompletedSuccessfully)
        {
            await (await _ready.Task).DisposeAsync();
        }
    }
}
