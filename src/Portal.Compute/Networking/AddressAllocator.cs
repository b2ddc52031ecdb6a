using Portal.Compute.Containers;

namespace Portal.Compute.Networking;

/// <summary>
/// IPAM of a switch: a container's address is the lowest free one after the gateway and its MAC is derived from its id,
/// both allocated at create and kept in its record until removal. Pure: the records say what is taken.
/// </summary>
public static class AddressAllocator
{
    /// <summary>The lowest free address on the switch (the gateway is .1) and a MAC derived from the container id; (null, null) without a subnet.</summary>
    public static (string? Address, string? Mac) Allocate(SwitchRecord sw, string containerId, IEnumerable<ContainerRecord> containers)
    {
        if (sw.ParsedSubnet is not { } subnet)
        {
            return (null, null);
        }

        var used = containers.Where(c => c.SwitchId == sw.Id && c.IpAddress is not null).Select(c => c.IpAddress!).ToHashSet(StringComparer.Ordinal);
        for (long i = 2; i <= subnet.HostCount; i++)
        {
            var address = subnet.Host(i).ToString();
            if (!used.Contains(address))
            {
                return (address, MacFor(containerId));
            }
        }

        throw new ComputeException(ComputeErrorCode.SubnetOverlap, $"Switch '{sw.Name}' ({sw.Subnet}) has no free address left: remove a container from it, or use a switch with a larger subnet.");
    }

    /// <summary>A locally administered unicast MAC from the container id: the same whichever runtime runs the container.</summary>
    public static string MacFor(string containerId) =>
        "02:" + string.Join(':', Enumerable.Range(0, 5).Select(i => containerId.Substring(i * 2, 2)));
}
