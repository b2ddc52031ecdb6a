namespace Portal.Compute.Containers;

/// <summary>A driver that can find and remove run-time leftovers of containers nobody knows any more.</summary>
public interface IOrphanCleaner
{
    Task RemoveOrphansAsync(IReadOnlySet<string> knownIds, CancellationToken ct);
}
