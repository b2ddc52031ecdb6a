using System.Net;
using System.Net.Sockets;
using Portal.Compute.Networking;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Networking;

/// <summary>Virtual switches with process-isolated containers: real bridges, veths, network namespaces and nftables. Needs root.</summary>
[Trait("Requires", "root")]
[Collection("vm")]
public sealed class SwitchTests(NetworkFixture fixture) : IClassFixture<NetworkFixture>
{
    private IComputeHost Compute => fixture.Compute;

    [RootFact]
    public async Task Containers_reach_each_other_by_address_and_name_private_switches_stay_apart_and_nothing_remains_as_root()
    {
        var lab = await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "lab" });
        Assert.Equal(SwitchType.Nat, lab.Type);
        Assert.NotNull(lab.Gateway);
        var port = Portal.Tests.Shared.FreeTcpPort.Next();
        var p1 = await fixture.StartWebAsync("p1", RuntimeType.Default, "lab", new PortMapping { HostIp = "127.0.0.1", HostPort = port, ContainerPort = 80 });
        var p2 = await fixture.StartWebAsync("p2", RuntimeType.Default, "lab");
        Assert.Equal("lab", p1.SwitchName);
        var subnet = Ipv4Subnet.Parse(lab.Subnet!);
        Assert.True(subnet.Contains(IPAddress.Parse(p1.IpAddress!)) && subnet.Contains(IPAddress.Parse(p2.IpAddress!)));
        Assert.NotEqual(p1.IpAddress, p2.IpAddress);

        await fixture.AssertReachesAsync("p1", p2.IpAddress!, "p2");
        await fixture.AssertReachesAsync("p1", "p2", "p2");
        await fixture.AssertReachesAsync("p2", "p1", "p1");
        Assert.Equal("hello-p1", await HostGetAsync(port));

        // A member that joins later is known by name to those already running.
        var p3 = await fixture.StartWebAsync("p3", RuntimeType.Default, "lab");
        await fixture.AssertReachesAsync("p1", "p3", "p3");

        // Restarts keep the address.
        var restarted = await Compute.Containers.RestartContainerAsync("p2", TimeSpan.FromSeconds(2));
        Assert.Equal(p2.IpAddress, restarted.IpAddress);
        await fixture.AssertReachesAsync("p1", "p2", "p2");

        // The agent restarts: switches, addresses, names and published ports are still there.
        await fixture.RestartStackAsync();
        Assert.Contains(Compute.Switches.ListSwitches(), s => s.Name == "lab" && s.Containers.Count == 3);
        Assert.Equal("hello-p1", await HostGetAsync(port));
        await fixture.AssertReachesAsync("p3", "p1", "p1");

        // Private switches: containers on one reach each other, nothing crosses to another switch.
        await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "private-a", Type = SwitchType.Private });
        await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "private-b", Type = SwitchType.Private });
        await fixture.StartWebAsync("a1", RuntimeType.Default, "private-a");
        await fixture.StartWebAsync("a2", RuntimeType.Default, "private-a");
        var b1 = await fixture.StartWebAsync("b1", RuntimeType.Default, "private-b");
        await fixture.AssertReachesAsync("a1", "a2", "a2");
        await AssertBlockedAsync("a1", b1.IpAddress!);
        await AssertBlockedAsync("b1", Compute.Containers.GetContainer("a1").IpAddress!);
        await AssertBlockedAsync("a1", p1.IpAddress!);
        await AssertBlockedAsync("a1", lab.Gateway!);
        var (code, _) = await fixture.ShAsync("a1", "ping -c1 -W2 b1");
        Assert.NotEqual(0, code); // b1 is not a name on private-a

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

    [RootFact]
    public async Task A_container_that_spoofs_its_MAC_or_IP_cannot_reach_its_peer_and_the_rules_go_with_it_as_root()
    {
        await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "spoof" });
        var a = await fixture.StartWebAsync("spoof-a", RuntimeType.Default, "spoof");
        var b = await fixture.StartWebAsync("spoof-b", RuntimeType.Default, "spoof");
        var table = fixture.Options.Networking.NftTable;
        try
        {
            await fixture.AssertReachesAsync("spoof-a", b.IpAddress!, "spoof-b");
            var rules = await RunAsync("nft", "list", "table", "bridge", table);
            Assert.Contains($"ether saddr != {a.MacAddress} drop", rules.Output, StringComparison.Ordinal);
            Assert.Contains($"ip saddr != {a.IpAddress} drop", rules.Output, StringComparison.Ordinal);

            // The container's network namespace changed from the host, as a container with CAP_NET_ADMIN could do it itself.
            var ns = Path.Combine(fixture.Options.RunRoot, "net", "ns", a.Id);

            // A spoofed MAC: its frames are dropped at the bridge, so the peer is unreachable; its own MAC again: reachable.
            Assert.Equal(0, (await RunAsync("nsenter", $"--net={ns}", "ip", "link", "set", "dev", "eth0", "address", "02:42:de:ad:be:ef")).ExitCode);
            Assert.NotEqual(0, (await fixture.ShAsync("spoof-a", $"ping -c1 -W2 {b.IpAddress}")).ExitCode);
            Assert.Equal(0, (await RunAsync("nsenter", $"--net={ns}", "ip", "link", "set", "dev", "eth0", "address", a.MacAddress!)).ExitCode);
            await fixture.AssertReachesAsync("spoof-a", b.IpAddress!, "spoof-b");

            // A spoofed IPv4 source (another address of the subnet) from the container's own MAC: dropped too.
            var subnet = Ipv4Subnet.Parse(Compute.Switches.GetSwitch("spoof").Subnet!);
            var spoofed = subnet.Host(200).ToString();
            Assert.Equal(0, (await RunAsync("nsenter", $"--net={ns}", "ip", "addr", "add", $"{spoofed}/{subnet.PrefixLength}", "dev", "eth0")).ExitCode);
            Assert.NotEqual(0, (await RunAsync("nsenter", $"--net={ns}", "busybox", "ping", "-c1", "-W2", "-I", spoofed, b.IpAddress!)).ExitCode);
            Assert.Equal(0, (await RunAsync("nsenter", $"--net={ns}", "busybox", "ping", "-c1", "-W5", "-I", a.IpAddress!, b.IpAddress!)).ExitCode);

            // The agent restarts (the containers keep running): the re-adopted ports stay guarded.
            await fixture.RestartStackAsync();
            var after = await RunAsync("nft", "list", "table", "bridge", table);
            Assert.Contains($"ether saddr != {a.MacAddress} drop", after.Output, StringComparison.Ordinal);
            Assert.Contains($"ip saddr != {b.IpAddress} drop", after.Output, StringComparison.Ordinal);
            Assert.NotEqual(0, (await RunAsync("nsenter", $"--net={ns}", "busybox", "ping", "-c1", "-W2", "-I", spoofed, b.IpAddress!)).ExitCode);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(a.Id, force: true);
            await Compute.Containers.RemoveContainerAsync(b.Id, force: true);
            await Compute.Switches.RemoveSwitchAsync("spoof");
        }

        // No container attached any more: the agent's bridge table is gone.
        Assert.NotEqual(0, (await RunAsync("nft", "list", "table", "bridge", table)).ExitCode);
    }

    [RootFact]
    public async Task A_VM_isolated_container_that_spoofs_its_MAC_or_IP_from_its_own_kernel_cannot_reach_its_peer_as_root()
    {
        // Inside a VM the container may have CAP_NET_ADMIN (its kernel is its own): the guard is the host's bridge, on the tap.
        await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "spoofv" });
        var peer = await fixture.StartWebAsync("spoofv-b", RuntimeType.Default, "spoofv");
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = "spoofv-a",
            Image = "busybox",
            RuntimeType = RuntimeType.HyperV,
            SwitchName = "spoofv",
            Command = ["sleep", "3600"],
            Security = new ContainerSecurity { CapabilityAdd = ["NET_ADMIN"] },
        });
        try
        {
            var vm = await Compute.Containers.StartContainerAsync(created.Id);
            await fixture.AssertReachesAsync("spoofv-a", peer.IpAddress!, "spoofv-b");
            var rules = await RunAsync("nft", "list", "table", "bridge", fixture.Options.Networking.NftTable);
            Assert.Contains($"ether saddr != {vm.MacAddress} drop", rules.Output, StringComparison.Ordinal);

            const string Nic = "dev=$(ip -o link | awk -F': ' '/link\\/ether/ {print $2; exit}')";
            var (spoofedMac, macOutput) = await fixture.ShAsync("spoofv-a", $"{Nic}; ip link set dev $dev address 02:42:de:ad:be:ef && ! ping -c1 -W2 {peer.IpAddress}");
            Assert.True(spoofedMac == 0, "with a spoofed MAC the peer must be unreachable: " + macOutput);
            Assert.Equal(0, (await fixture.ShAsync("spoofv-a", $"{Nic}; ip link set dev $dev address {vm.MacAddress}")).ExitCode);
            await fixture.AssertReachesAsync("spoofv-a", peer.IpAddress!, "spoofv-b");

            var subnet = Ipv4Subnet.Parse(Compute.Switches.GetSwitch("spoofv").Subnet!);
            var spoofed = subnet.Host(200).ToString();
            var (spoofedIp, ipOutput) = await fixture.ShAsync("spoofv-a", $"{Nic}; ip addr add {spoofed}/{subnet.PrefixLength} dev $dev && ! ping -c1 -W2 -I {spoofed} {peer.IpAddress}");
            Assert.True(spoofedIp == 0, "from a spoofed IPv4 source the peer must be unreachable: " + ipOutput);
            Assert.Equal(0, (await fixture.ShAsync("spoofv-a", $"ping -c1 -W5 -I {vm.IpAddress} {peer.IpAddress}", attempts: 3)).ExitCode);
        }
        finally
        {
            await Compute.Containers.RemoveContainerAsync(created.Id, force: true);
            await Compute.Containers.RemoveContainerAsync(peer.Id, force: true);
            await Compute.Switches.RemoveSwitchAsync("spoofv");
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    [RootFact]
    public async Task A_subnet_overlapping_a_real_host_route_or_link_local_is_refused_as_root()
    {
        // A real route on the host: an interface (not one of our bridges) with 198.18.77.1/24.
        var dummy = fixture.Options.Networking.InterfacePrefix + "dum";
        await HostNetwork.BatchAsync([$"link add {dummy} type bridge", $"addr add 198.18.77.1/24 dev {dummy}", $"link set {dummy} up"]);
        try
        {
            var before = Compute.Switches.ListSwitches().Count;
            var routed = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "capture", Subnet = "198.18.77.128/25" }));
            Assert.Equal(ComputeErrorCode.SubnetOverlap, routed.Code);
            Assert.Contains($"198.18.77.0/24 on {dummy}", routed.Message, StringComparison.Ordinal);

            var metadata = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "metadata", Subnet = "169.254.169.0/24" }));
            Assert.Equal(ComputeErrorCode.SubnetOverlap, metadata.Code);
            Assert.Contains("link-local range 169.254.0.0/16", metadata.Message, StringComparison.Ordinal);

            if (HostRouteTable.Read().FirstOrDefault(r => r.What.Contains("DNS resolver", StringComparison.Ordinal)) is { } resolver)
            {
                var dns = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "dns", Subnet = new Ipv4Subnet(resolver.Subnet.Network & 0xFFFFFF00, 24).ToString() }));
                Assert.Equal(ComputeErrorCode.SubnetOverlap, dns.Code);
            }

            Assert.Equal(before, Compute.Switches.ListSwitches().Count);
        }
        finally
        {
            await HostNetwork.DeleteLinkAsync(dummy, CancellationToken.None);
        }
    }

    [RootFact]
    public async Task Bad_input_gets_a_clear_error_and_changes_nothing_as_root()
    {
        var baseSwitch = await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "base" });
        var switchesBefore = Compute.Switches.ListSwitches().Select(s => s.Name).Order().ToList();
        var linksBefore = Portal.Tests.Shared.TestSandbox.LinksOf(fixture.Options.Networking.InterfacePrefix).Order().ToList();

        var overlap = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "other", Subnet = baseSwitch.Subnet }));
        Assert.Equal(ComputeErrorCode.SubnetOverlap, overlap.Code);
        Assert.Contains("'base'", overlap.Message);
        if (HostNetwork.HostRoutes().FirstOrDefault(r => !r.Device.StartsWith(fixture.Options.Networking.InterfacePrefix, StringComparison.Ordinal)) is { Device: not null } hostRoute
            && hostRoute.Subnet.PrefixLength is >= 8 and <= 29)
        {
            var hostOverlap = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "other", Subnet = hostRoute.Subnet.ToString() }));
            Assert.Equal(ComputeErrorCode.SubnetOverlap, hostOverlap.Code);
            Assert.Contains(hostRoute.Device, hostOverlap.Message);
        }

        Assert.Equal(ComputeErrorCode.NameInUse, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "BASE" }))).Code);
        Assert.Equal(ComputeErrorCode.NameInUse, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "Virtual Switch" }))).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "x", Subnet = "10.1.2.3/24" }))).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "bad/name" }))).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.RemoveSwitchAsync("none"))).Code);
        Assert.Equal(ComputeErrorCode.SwitchNotFound, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.RemoveSwitchAsync("nonexistent"))).Code);

        var port = Portal.Tests.Shared.FreeTcpPort.Next();
        var user = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "user", Image = "busybox", SwitchName = "base", Ports = [new PortMapping { HostIp = "127.0.0.1", HostPort = port, ContainerPort = 80 }] });
        var inUse = await Assert.ThrowsAsync<ComputeException>(() => Compute.Switches.RemoveSwitchAsync("base"));
        Assert.Equal(ComputeErrorCode.SwitchInUse, inUse.Code);
        Assert.Contains("user", inUse.Message);

        var containersBefore = Compute.Containers.ListContainers().Count;
        var taken = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", SwitchName = "base", Ports = [new PortMapping { HostPort = port, ContainerPort = 81 }] }));
        Assert.Equal(ComputeErrorCode.PortInUse, taken.Code);
        Assert.Contains("'user'", taken.Message);
        using (var holder = new TcpListener(IPAddress.Loopback, 0))
        {
            holder.Start();
            var held = ((IPEndPoint)holder.LocalEndpoint).Port;
            var occupied = await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", SwitchName = "base", Ports = [new PortMapping { HostIp = "127.0.0.1", HostPort = held, ContainerPort = 80 }] }));
            Assert.Equal(ComputeErrorCode.PortInUse, occupied.Code);
            Assert.Contains("in use by another program", occupied.Message);
        }

        await Compute.Switches.CreateSwitchAsync(new SwitchCreateSpec { Name = "closed", Type = SwitchType.Private });
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", SwitchName = "closed", Ports = [new PortMapping { HostPort = 0, ContainerPort = 80 }] }))).Code);
        Assert.Equal(ComputeErrorCode.SwitchNotFound, (await Assert.ThrowsAsync<ComputeException>(() => Compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Image = "busybox", SwitchName = "nowhere" }))).Code);
        Assert.Equal(containersBefore, Compute.Containers.ListContainers().Count);
        await Compute.Switches.RemoveSwitchAsync("closed");

        Assert.Equal(switchesBefore, Compute.Switches.ListSwitches().Select(s => s.Name).Order().ToList());
        Assert.Equal(linksBefore, Portal.Tests.Shared.TestSandbox.LinksOf(fixture.Options.Networking.InterfacePrefix).Order().ToList());
        await Compute.Containers.RemoveContainerAsync(user.Id);
        await Compute.Switches.RemoveSwitchAsync("base");
    }

    private async Task AssertBlockedAsync(string from, string address)
    {
        var (code, output) = await fixture.ShAsync(from, $"ping -c1 -W2 {address} && exit 0; timeout 5 wget -q -O - http://{address}/ && exit 0; exit 1");
        Assert.True(code != 0, $"{from} reached {address}: {output}");
    }

    internal static async Task<string> HostGetAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Exception? last = null;
        for (var i = 0; i < 20; i++)
        {
            try
            {
                return (await http.GetStringAsync($"http://127.0.0.1:{port}/")).Trim();
            }
            catch (HttpRequestException e)
            {
                last = e;
                await Task.Delay(500);
            }
        }

        throw new InvalidOperationException($"The host did not reach 127.0.0.1:{port}", last);
    }
}
