using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Networking;

/// <summary>
/// Virtual switches with VM-isolated containers (tap + virtio-net configured by the guest agent) next to process-isolated
/// ones, on the default NAT switch reached through the seed's names. Boots three VMs. Needs root.
/// </summary>
[Trait("Requires", "root")]
[Collection("vm")]
public sealed class VmSwitchTests(NetworkFixture fixture) : IClassFixture<NetworkFixture>
{
    private IComputeHost Compute => fixture.Compute;

    [RootFact]
    public async Task VMs_and_processes_reach_each_other_by_address_and_name_the_host_reaches_a_VM_port_and_conversion_keeps_the_address_as_root()
    {
        var port = Portal.Tests.Shared.FreeTcpPort.Next();
        var v1 = await fixture.StartWebAsync("v1", RuntimeType.HyperV, "Virtual Switch", new PortMapping { HostIp = "127.0.0.1", HostPort = port, ContainerPort = 80 });
        var v2 = await fixture.StartWebAsync("v2", RuntimeType.HyperV, "NAT");
        var p1 = await fixture.StartWebAsync("p1", RuntimeType.Default, null);
        Assert.All(new[] { v1, v2, p1 }, c => Assert.Equal("NAT", c.SwitchName));
        Assert.Equal(["Default Switch", "Virtual Switch", "bridge", "default"], Compute.Switches.GetSwitch("nat").Aliases.Order(StringComparer.Ordinal));

        await fixture.AssertReachesAsync("v1", v2.IpAddress!, "v2");   // VM to VM by address
        await fixture.AssertReachesAsync("v2", "v1", "v1");            // VM to VM by name
        await fixture.AssertReachesAsync("p1", "v1", "v1");            // process to VM
        await fixture.AssertReachesAsync("v2", "p1", "p1");            // VM to process
        Assert.Equal("hello-v1", await SwitchTests.HostGetAsync(port));

        // A process-isolated container becomes VM-isolated: same address, same name, still reachable.
        var converted = await Compute.Containers.ConvertContainerAsync("p1", RuntimeType.HyperV, restart: true);
        Assert.Equal(RuntimeType.HyperV, converted.RuntimeType);
        Assert.Equal(p1.IpAddress, converted.IpAddress);
        Assert.Equal(p1.MacAddress, converted.MacAddress);
        await fixture.AssertReachesAsync("v1", "p1", "p1");

        foreach (var c in Compute.Containers.ListContainers())
        {
            await Compute.Containers.RemoveContainerAsync(c.Id, force: true);
        }

        foreach (var s in Compute.Switches.ListSwitches().Where(s => !s.IsBuiltIn))
        {
            await Compute.Switches.RemoveSwitchAsync(s.Name);
        }

        Assert.Empty(fixture.NetworkLeftovers());
    }
}
