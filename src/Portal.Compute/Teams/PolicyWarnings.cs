using System.Collections.Concurrent;

namespace Portal.Compute.Teams;

/// <summary>
/// The warnings a policy gave a call (a team's isolation policy in Warn mode), for the entry point to show its caller:
/// the entry point collects around the call (REST answers them in Warning headers, docker in a create's Warnings), and
/// the enforcement path adds to the collection of its flow. Without a collection a warning is only in the audit trail.
/// </summary>
public sealed class PolicyWarnings : IDisposable
{
    private static readonly AsyncLocal<PolicyWarnings?> Ambient = new();
    private readonly ConcurrentQueue<string> _items = new();
    private readonly PolicyWarnings? _outer;

    private PolicyWarnings(PolicyWarnings? outer) => _outer = outer;

    public IReadOnlyList<string> Items => _items.ToArray();

    /// <summary>Collects the warnings of the calls this flow makes until disposed.</summary>
    public static PolicyWarnings Collect()
    {
        var warnings = new PolicyWarnings(Ambient.Value);
        Ambient.Value = warnings;
        return warnings;
    }

    /// <summary>Tells the caller of this flow, if its entry point collects warnings.</summary>
    public static void Add(string warning) => Ambient.Value?._items.Enqueue(warning);

    public void Dispose() => Ambient.Value = _outer;
}
