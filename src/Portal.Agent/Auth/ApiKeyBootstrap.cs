using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>At the first start, creates an admin key and shows it once (it is stored only as a hash).</summary>
public sealed class ApiKeyBootstrap(ApiKeyStore keys, ILogger<ApiKeyBootstrap> logger) : IHostedService
{
    public const string Banner = "Admin API key (shown once, store it now): ";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!keys.IsEmpty)
        {
            return;
        }

        var created = await keys.CreateAsync("first admin", ApiScope.Admin, cancellationToken);
        // Straight to stdout, never into a log sink that may be collected elsewhere.
        Console.WriteLine(Banner + created.Secret);
        logger.LogInformation("Created the first admin API key {Id}; its secret was printed once to the console", created.Key.Id);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
