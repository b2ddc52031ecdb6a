using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>The containers grid's filter: free text over name, id, image, host, switch and IP address, plus host, state and runtime type.</summary>
public sealed record ContainerFilter
{
    public string? Search { get; init; }

    public string? HostId { get; init; }

    public ContainerState? State { get; init; }

    public RuntimeType? RuntimeType { get; init; }

    public bool Matches(ContainerRow row)
    {
        var c = row.Container;
        return (HostId is null || row.HostId == HostId)
            && (State is null || c.State == State)
            && (RuntimeType is null || c.RuntimeType == RuntimeType)
            && (string.IsNullOrWhiteSpace(Search) || Search.Trim() is var s && (
                c.Name.Contains(s, StringComparison.OrdinalIgnoreCase)
                || c.Id.StartsWith(s, StringComparison.OrdinalIgnoreCase)
                || c.Image.Contains(s, StringComparison.OrdinalIgnoreCase)
                || row.HostName.Contains(s, StringComparison.OrdinalIgnoreCase)
                || c.SwitchName.Equals(s, StringComparison.OrdinalIgnoreCase)
                || (c.IpAddress?.StartsWith(s, StringComparison.Ordinal) ?? false)));
    }
}
