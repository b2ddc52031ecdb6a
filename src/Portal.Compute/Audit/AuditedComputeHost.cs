using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>
/// The compute host every front end of the agent is handed (REST, hub, the docker socket; PowerShell and the portal
/// through REST and the hub): each state-changing call is recorded once in the audit trail, here, with the caller its
/// entry point set (<see cref="AuditCaller.Current"/>), what it was aimed at and how it ended. Reads pass through.
/// </summary>
public sealed class AuditedComputeHost(IComputeHost inner, AuditTrail trail) : IComputeHost
{
    private readonly AuditedContainerService _containers = new(inner, trail);
    private readonly AuditedImageService _images = new(inner, trail);
    private readonly AuditedSwitchService _switches = new(inner, trail);

    public IContainerService Containers => _containers;

    public IImageService Images => _images;

    public ISwitchService Switches => _switches;

    public IHostProcessView HostProcesses => inner.HostProcesses;

    public AuditTrail Trail => trail;

    public HostInfo GetHostInfo() => inner.GetHostInfo();

    /// <summary>Runs <paramref name="run"/> and records it with the target known after it (or before it, when it failed).</summary>
    internal static async Task<T> RecordAsync<T>(AuditTrail trail, string action, AuditTarget before, Func<Task<T>> run, Func<T, AuditTarget>? after = null,
        RuntimeType? requested = null, Func<T, RuntimeType?>? effective = null, IReadOnlyDictionary<string, string>? details = null)
    {
        var caller = AuditCaller.Current;
        T result;
        try
        {
            result = await run().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            trail.Record(action, before, e, caller, requested, details: details);
            throw;
        }

        trail.Record(action, after?.Invoke(result) ?? before, null, caller, requested, effective?.Invoke(result), details);
        return result;
    }

    internal static Task RecordAsync(AuditTrail trail, string action, AuditTarget before, Func<Task> run, IReadOnlyDictionary<string, string>? details = null) =>
        RecordAsync(trail, action, before, async () =>
        {
            await run().ConfigureAwait(false);
            return true;
        }, details: details);
}
