using System.Net;
using Portal.Compute.Containers;
using Portal.Compute.Linux.Vm;
using Portal.Compute.Networking;
using Portal.Contracts;

using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Networking;

/// <summary>The pure parts of virtual switches: subnets, addresses, MACs, the nftables table, hosts files, the worker's NIC.</summary>
public sealed class NetworkingPartsTests
{
    [Theory]
    [InlineData("10.89.0.0/24", "10.89.0.1", 254)]
    [InlineData("192.168.7.0/29", "192.168.7.1", 6)]
    [InlineData("10.0.0.0/8", "10.0.0.1", 16777214)]
    public void Subnets_parse_with_their_gateway_and_size(string text, string gateway, long hosts)
    {
        var subnet = Ipv4Subnet.Parse(text);
        Assert.Equal(text, subnet.ToString());
        Assert.Equal(gateway, subnet.Gateway.ToString());
        Assert.Equal(hosts, subnet.HostCount);
        Assert.True(subnet.Contains(IPAddress.Parse(gateway)));
    }

    [Theory]
    [InlineData("10.89.0.1/24", "host bits")]
    [InlineData("10.89.0.0/30", "/8 to /29")]
    [InlineData("10.89.0.0", "CIDR")]
    [InlineData("fd00::/64", "CIDR")]
    [InlineData("banana", "CIDR")]
    public void Bad_subnets_say_what_is_wrong(string text, string hint)
    {
        var e = Assert.Throws<ComputeException>(() => Ipv4Subnet.Parse(text));
        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.Contains(hint, e.Message);
    }

    [Theory]
    [InlineData("10.89.0.0/24", "10.89.0.0/16", true)]
    [InlineData("10.89.0.0/24", "10.89.1.0/24", false)]
    [InlineData("10.0.0.0/8", "10.200.3.0/24", true)]
    [InlineData("192.168.0.0/24", "10.0.0.0/8", false)]
    public void Overlap_is_symmetric(string a, string b, bool overlaps)
    {
        Assert.Equal(overlaps, Ipv4Subnet.Parse(a).Overlaps(Ipv4Subnet.Parse(b)));
        Assert.Equal(overlaps, Ipv4Subnet.Parse(b).Overlaps(Ipv4Subnet.Parse(a)));
    }

    [Fact]
    public void Addresses_are_the_lowest_free_ones_after_the_gateway_and_the_mac_follows_the_container_id()
    {
        var sw = Switch(SwitchType.Nat, "10.89.4.0/29");
        var taken = new[] { Record("a", sw, "10.89.4.2"), Record("b", sw, "10.89.4.4") };
        Assert.Equal(("10.89.4.3", "02:ab:cd:ef:01:23"), AddressAllocator.Allocate(sw, "abcdef0123456789", taken));
        var full = Enumerable.Range(2, 5).Select(i => Record($"c{i}", sw, $"10.89.4.{i}")).ToList();
        Assert.Equal(ComputeErrorCode.SubnetOverlap, Assert.Throws<ComputeException>(() => AddressAllocator.Allocate(sw, "abcdef0123456789", full)).Code);
        Assert.Equal((null, null), AddressAllocator.Allocate(SwitchCatalog.None, "abcdef0123456789", []));
    }

    [Fact]
    public void Ports_are_published_only_on_NAT_switches_once_per_host_port()
    {
        var nat = Switch(SwitchType.Nat, "10.89.5.0/24");
        var web = Record("web", nat, "10.89.5.2") with { Ports = [new PortMapping { HostPort = 18080, ContainerPort = 80 }] };
        var clash = Assert.Throws<ComputeException>(() => PublishedPorts.Normalize(nat, [new PortMapping { HostIp = "127.0.0.1", HostPort = 18080, ContainerPort = 81 }], [web]));
        Assert.Equal(ComputeErrorCode.PortInUse, clash.Code);
        Assert.Contains("'web'", clash.Message);
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => PublishedPorts.Normalize(Switch(SwitchType.Internal, "10.89.6.0/24"), [new PortMapping { ContainerPort = 80 }], [])).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => PublishedPorts.Normalize(nat, [new PortMapping { ContainerPort = 53, Protocol = "udp" }], [])).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => PublishedPorts.Normalize(nat, [new PortMapping { ContainerPort = 70000 }], [])).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => PublishedPorts.Normalize(nat, [new PortMapping { HostIp = "::1", ContainerPort = 80 }], [])).Code);

        // Binding 127.0.0.1 needs no root: port 0 gets its number at create.
        var picked = PublishedPorts.Validate(nat, [new PortMapping { HostIp = "127.0.0.1", ContainerPort = 80 }], [web]).Single();
        Assert.InRange(picked.HostPort, 1, 65535); // port 0: a free one, chosen at create
        Assert.Equal("tcp", picked.Protocol);
    }

    [Fact]
    public void The_nftables_table_has_rules_per_switch_type_and_is_deleted_without_bridges()
    {
        var nat = Switch(SwitchType.Nat, "10.89.0.0/24");
        var priv = Switch(SwitchType.Private, "10.89.1.0/24");
        var script = NftRuleset.Build("portal", "ptl", [(nat, "ptlbr000001"), (priv, "ptlbr000002")]);
        Assert.StartsWith("table ip portal\ndelete table ip portal\ntable ip portal {", script);
        Assert.Contains("iifname \"ptlbr000001\" oifname != \"ptl*\" accept", script);
        Assert.Contains("ip saddr 10.89.0.0/24 oifname != \"ptlbr000001\" masquerade", script);
        Assert.DoesNotContain("10.89.1.0/24", script); // no masquerade for Private
        Assert.Contains("chain input", script);
        Assert.Contains("iifname \"ptlbr000002\" drop", script);
        Assert.Equal("table ip portal\ndelete table ip portal\n", NftRuleset.Build("portal", "ptl", []));
    }

    [Fact]
    public void Hosts_files_list_the_switch_members_by_name()
    {
        var text = HostsFile.Build("web", "10.89.0.2", [("db", "10.89.0.3"), ("cache", "10.89.0.4")]);
        Assert.Equal("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.89.0.2\tweb\n10.89.0.4\tcache\n10.89.0.3\tdb\n", text);
        Assert.EndsWith("127.0.1.1\tlonely\n", HostsFile.Build("lonely", null, []));
    }

    [Fact]
    public void A_VM_on_a_switch_gets_a_virtio_net_device_on_the_handed_over_tap()
    {
        var spec = new VmWorkerSpec { ContainerId = "abcdef0123456789", ContainerName = "v", Accelerator = VmAccelerator.Tcg, MemoryMiB = 256, KernelPath = "/k", InitramfsPath = "/i", Uid = 1_900_000_001, JailDirectory = "/j", MacAddress = "02:ab:cd:ef:01:23" };
        var args = string.Join(' ', QemuCommandLine.Build(spec));
        Assert.Contains($"-netdev tap,id=net0,fd={QemuCommandLine.TapFd} -device virtio-net-pci,netdev=net0,mac=02:ab:cd:ef:01:23,romfile=", args);
        Assert.DoesNotContain("-netdev", string.Join(' ', QemuCommandLine.Build(spec with { MacAddress = null })));
    }

    [Fact]
    public void Switches_resolve_by_name_alias_and_id_prefix_and_the_default_by_no_name()
    {
        var nat = Switch(SwitchType.Nat, "10.89.0.0/22") with { Name = "NAT", Id = "abcdef" + new string('0', 58) };
        var lab = Switch(SwitchType.Internal, "10.89.8.0/24") with { Name = "lab", Id = "123456" + new string('0', 58) };
        var catalog = new SwitchCatalog(new NetworkOptions(), null, [nat, lab], () => []);
        Assert.Same(nat, catalog.Resolve(null));
        Assert.Same(nat, catalog.Resolve("Virtual Switch"));
        Assert.Same(lab, catalog.Resolve("LAB"));
        Assert.Same(lab, catalog.Resolve("1234"));
        Assert.Same(SwitchCatalog.None, catalog.Resolve("none"));
        Assert.Equal(ComputeErrorCode.InvalidArgument, Assert.Throws<ComputeException>(() => catalog.Resolve("host")).Code);
        Assert.Equal(ComputeErrorCode.SwitchNotFound, Assert.Throws<ComputeException>(() => catalog.Resolve("nonexistent")).Code);
        Assert.Same(SwitchCatalog.None, catalog.SwitchOf(Record("old", SwitchCatalog.None, "x") with { SwitchId = null }));
    }

    [Fact]
    public void A_new_switch_gets_a_free_subnet_and_overlaps_are_refused_before_anything_is_made()
    {
        var nat = Switch(SwitchType.Nat, "10.89.0.0/24") with { Name = "NAT" };
        var catalog = new SwitchCatalog(new NetworkOptions(), null, [nat], () => [new HostRoute(Ipv4Subnet.Parse("10.89.1.0/24"), "eth9", "the host's route 10.89.1.0/24 on eth9")]);
        Assert.Equal("10.89.2.0/24", catalog.Plan(new SwitchCreateSpec { Name = "lab" }, new HashSet<string>()).Subnet);
        Assert.Equal(ComputeErrorCode.SubnetOverlap, Assert.Throws<ComputeException>(() => catalog.Plan(new SwitchCreateSpec { Name = "x", Subnet = "10.89.0.0/16" }, new HashSet<string>())).Code);
        Assert.Contains("eth9", Assert.Throws<ComputeException>(() => catalog.Plan(new SwitchCreateSpec { Name = "x", Subnet = "10.89.1.0/24" }, new HashSet<string>())).Message);
        Assert.Equal(ComputeErrorCode.NameInUse, Assert.Throws<ComputeException>(() => catalog.Plan(new SwitchCreateSpec { Name = "nat" }, new HashSet<string>())).Code);
        Assert.Equal(ComputeErrorCode.NameInUse, Assert.Throws<ComputeException>(() => catalog.Plan(new SwitchCreateSpec { Name = "bridge" }, new HashSet<string>())).Code);
        Assert.Single(catalog.Records); // planning adds nothing
    }

    [Fact]
    public async Task A_switch_s_owning_team_is_saved_with_it_and_survives_a_restart()
    {
        var directory = Directory.CreateTempSubdirectory("portal-switch-owner-").FullName;
        try
        {
            var catalog = new SwitchCatalog(new NetworkOptions(), directory, hostRoutes: () => []);
            await catalog.LoadAsync(CancellationToken.None);
            await catalog.AddAsync(catalog.Plan(new SwitchCreateSpec { Name = "blue-net", Team = " blue " }, new HashSet<string>()), CancellationToken.None);
            await catalog.AddAsync(catalog.Plan(new SwitchCreateSpec { Name = "lab" }, new HashSet<string>()), CancellationToken.None);

            var again = new SwitchCatalog(new NetworkOptions(), directory, hostRoutes: () => []);
            await again.LoadAsync(CancellationToken.None);
            Assert.Equal("blue", again.Resolve("blue-net").Team);
            Assert.Null(again.Resolve("lab").Team);
            Assert.Null(again.Resolve(null).Team); // the default NAT switch is the administrators'
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_containers_hosts_file_lists_only_its_own_switch()
    {
        var lab = Switch(SwitchType.Internal, "10.89.8.0/24");
        var other = Switch(SwitchType.Internal, "10.89.9.0/24");
        var web = Record("web", lab, "10.89.8.2");
        var text = HostsFile.For(web, lab, [web, Record("db", lab, "10.89.8.3"), Record("far", other, "10.89.9.2")]);
        Assert.EndsWith("10.89.8.2\tweb\n10.89.8.3\tdb\n", text);
        Assert.EndsWith("127.0.1.1\tweb\n", HostsFile.For(web, SwitchCatalog.None, [web]));
    }

    [Fact]
    public void Each_attached_port_may_only_send_its_own_MAC_and_IPv4_source_and_ARP_for_it()
    {
        var port = new SwitchPortGuard.GuardedPort("port_abcdef01", ["ptlvabcdef01", "ptltabcdef01"], "02:ab:cd:ef:01:02", "10.89.0.7");

        var script = SwitchPortGuard.Build("portal", [port]);

        Assert.Contains("table bridge portal {", script, StringComparison.Ordinal);
        Assert.Contains("type filter hook prerouting priority filter; policy accept;", script, StringComparison.Ordinal);
        Assert.Contains("iifname { \"ptlvabcdef01\", \"ptltabcdef01\" } jump port_abcdef01", script, StringComparison.Ordinal);
        Assert.Contains("ether saddr != 02:ab:cd:ef:01:02 drop", script, StringComparison.Ordinal);
        Assert.Contains("ether type != { ip, arp } drop", script, StringComparison.Ordinal);
        Assert.Contains("arp saddr ether != 02:ab:cd:ef:01:02 drop", script, StringComparison.Ordinal);
        Assert.Contains("arp saddr ip != 10.89.0.7 drop", script, StringComparison.Ordinal);
        Assert.Contains("ip saddr != 10.89.0.7 drop", script, StringComparison.Ordinal);

        // No guarded port: the table goes.
        Assert.Equal("table bridge portal\ndelete table bridge portal\n", SwitchPortGuard.Build("portal", []));
    }

    [RootFact]
    public async Task The_anti_spoofing_table_is_valid_nftables_as_root()
    {
        var port = new SwitchPortGuard.GuardedPort("port_abcdef01", ["ptlvabcdef01", "ptltabcdef01"], "02:ab:cd:ef:01:02", "10.89.0.7");
        var start = new System.Diagnostics.ProcessStartInfo("nft", ["-c", "-f", "-"]) { RedirectStandardInput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.StandardInput.WriteAsync(SwitchPortGuard.Build("portal_check_" + Environment.ProcessId, [port]));
        process.StandardInput.Close();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, error);
    }

    [Theory]
    [InlineData("169.254.169.0/24", "link-local range 169.254.0.0/16")]
    [InlineData("10.255.255.0/24", "DNS resolver 10.255.255.53 (/etc/resolv.conf)")]
    [InlineData("192.0.2.0/28", "default gateway 192.0.2.1 on eth0")]
    [InlineData("198.51.100.0/24", "address 198.51.100.7/32 on wg0")]
    [InlineData("127.1.0.0/16", "loopback range")]
    [InlineData("224.1.0.0/16", "multicast range")]
    public void A_subnet_that_would_capture_host_traffic_is_refused_naming_what_it_overlaps(string subnet, string named)
    {
        // The host as the seam shows it: a default route via 192.0.2.1 (with no route for its network in this table),
        // a /32 address on a tunnel, a resolver reached through the default route; plus the ranges no switch may take.
        var host = new List<HostRoute>
        {
            new(new Ipv4Subnet(Ipv4Subnet.ToUInt32(System.Net.IPAddress.Parse("192.0.2.1")), 32), "eth0", "the host's default gateway 192.0.2.1 on eth0"),
            new(new Ipv4Subnet(Ipv4Subnet.ToUInt32(System.Net.IPAddress.Parse("198.51.100.7")), 32), "wg0", "the address 198.51.100.7/32 on wg0"),
        };
        host.AddRange(HostRouteTable.Resolvers(["# comment", "nameserver 10.255.255.53", "nameserver 127.0.0.53", "nameserver ::1"], "/etc/resolv.conf"));
        host.AddRange(HostRouteTable.Read().Where(r => r.Device is "" or "lo" && r.What.Contains("range", StringComparison.Ordinal)));
        var catalog = new SwitchCatalog(new NetworkOptions(), null, [], () => host);

        var error = Assert.Throws<ComputeException>(() => catalog.Plan(new SwitchCreateSpec { Name = "x", Subnet = subnet }, new HashSet<string>()));

        Assert.Equal(ComputeErrorCode.SubnetOverlap, error.Code);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains("would capture the host's traffic", error.Message, StringComparison.Ordinal);
        Assert.Equal("10.89.0.0/24", catalog.Plan(new SwitchCreateSpec { Name = "free" }, new HashSet<string>()).Subnet);
    }

    [Fact]
    public void Kernel_routes_give_networks_and_gateways_and_resolv_conf_gives_resolvers()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file,
            [
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
                "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
                "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
            ]);

            var routes = HostRouteTable.KernelRoutes(file).ToList();

            Assert.Equal(["192.0.2.1/32 eth0", "192.0.2.0/24 eth0"], routes.Select(r => $"{r.Subnet} {r.Device}"));
            Assert.Contains("default gateway", routes[0].What, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }

        Assert.Equal(["8.8.8.8/32"], HostRouteTable.Resolvers(["nameserver 8.8.8.8", "nameserver 127.0.0.53", "search x"], "r").Select(r => r.Subnet.ToString()));
    }

    private static SwitchRecord Switch(SwitchType type, string subnet) => new() { Id = Guid.NewGuid().ToString("N"), Name = type.ToString(), Type = type, Subnet = subnet, CreatedAt = DateTimeOffset.UtcNow };

    private static ContainerRecord Record(string name, SwitchRecord sw, string address) => new()
    {
        Id = Guid.NewGuid().ToString("N"),
        Name = name,
        Image = "busybox",
        ImageId = "x",
        RuntimeType = RuntimeType.Default,
        State = ContainerState.Created,
        Command = ["true"],
        Environment = [],
        WorkingDirectory = "/",
        Limits = new ContainerLimits(),
        Labels = new Dictionary<string, string>(),
        CreatedAt = DateTimeOffset.UtcNow,
        SwitchId = sw.Id,
        SwitchName = sw.Name,
        IpAddress = address,
    };
}
