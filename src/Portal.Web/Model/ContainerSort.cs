using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>The containers grid's columns that sort.</summary>
public enum ContainerColumn
{
    Name,
    Host,
    Image,
    RuntimeType,
    State,
    Network,
    Id,
    Uptime,
    Cpu,
    Memory,
}

/// <summary>
/// The containers grid's order: one column, ascending or descending, ties broken by name and host so the order is
/// stable while values change underneath.
/// </summary>
public sealed record ContainerSort(ContainerColumn Column = ContainerColumn.Name, bool Descending = false)
{
    /// <summary>Clicking a column sorts by it ascending; clicking the sorted column again flips the direction.</summary>
    public ContainerSort Toggle(ContainerColumn column) => column == Column ? this with { Descending = !Descending } : new ContainerSort(column);

    public List<ContainerRow> Apply(IEnumerable<ContainerRow> rows, DateTimeOffset now)
    {
        var comparer = Comparer<IComparable?>.Create(Compare);
        var ordered = Descending ? rows.OrderByDescending(r => Key(r, now), comparer) : rows.OrderBy(r => Key(r, now), comparer);
        return [.. ordered.ThenBy(r => r.Container.Name, StringComparer.Ordinal).ThenBy(r => r.HostName, StringComparer.Ordinal)];
    }

    private IComparable? Key(ContainerRow row, DateTimeOffset now) => Column switch
    {
        ContainerColumn.Host => row.HostName,
        ContainerColumn.Image => row.Container.Image,
        ContainerColumn.RuntimeType => row.Container.RuntimeType,
        ContainerColumn.State => row.Container.State,
        ContainerColumn.Network => row.Container.SwitchName,
        ContainerColumn.Id => row.Container.Id,
        ContainerColumn.Uptime => row.Uptime(now),
        ContainerColumn.Cpu => row.Usage?.CpuPercent,
        ContainerColumn.Memory => row.Usage?.MemoryBytes,
        _ => row.Container.Name,
    };

    /// <summary>Missing values (a stopped container's CPU) sort before any value.</summary>
    private static int Compare(IComparable? a, IComparable? b) => (a, b) switch
    {
        (null, null) => 0,
        (null, _) => -1,
        (_, null) => 1,
        _ => a is string s ? string.CompareOrdinal(s, (string)b) : a.CompareTo(b),
    };
}
