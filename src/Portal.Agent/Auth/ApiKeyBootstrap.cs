using Microsoft.Extensions.Options;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Storage;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>
/// At the first start, creates an admin key and hands it over once through a file only root can read
/// (<c>&lt;StateRoot&gt;/agent/first-admin-key</c>, mode 0600 from the moment it exists): never to stdout, stderr or a log,
/// which services and `deploy/portal up` collect into files others may read. `deploy/portal up` shows it on the terminal.
/// </summary>
public sealed class ApiKeyBootstrap(ApiKeyStore keys, IOptions<ComputeOptions> compute, AuditTrail audit, ILogger<ApiKeyBootstrap> logger) : IHostedService
{
    public const string FileName = "first-admin-key";

    /// <summary>Where the first admin key is handed over.</summary>
    public static string PathUnder(string stateRoot) => Path.Combine(stateRoot, "agent", FileName);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!keys.IsEmpty)
        {
            return;
        }

        AuditCaller.Current = AuditCaller.Agent("first start");

        // The file first: a crash before the key is saved leaves an empty store, and the next start makes a new key and file.
        var path = PathUnder(compute.Value.StateRoot);
        var created = await audit.RecordAsync(AuditActions.KeyCreate, audit.Target("key", null, "first admin"),
            () => keys.CreateAsync("first admin", ApiScope.Admin, cancellationToken, (secret, ct) => SecretFile.WriteAsync(path, secret + "\n", ct)),
            k => audit.Target("key", k.Key.Id, k.Key.Name),
            details: new Dictionary<string, string>(StringComparer.Ordinal) { ["scope"] = nameof(ApiScope.Admin) }).ConfigureAwait(false);
        logger.LogInformation("Created the first admin API key {Id}; its secret is in {Path} (root only): store it elsewhere and delete the file", created.Key.Id, path);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
