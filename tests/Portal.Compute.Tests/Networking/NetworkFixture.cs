using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Networking;
using Portal.Compute.Tests.Integration;
using Portal.Compute.Tests.Vm;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Networking;

/// <summary>Both drivers (runc/crun and QEMU) with virtual switches, in a private sandbox (own interface prefix, nftables table and address pool). Needs root: as any other user it starts nothing (its tests are skipped).</summary>
public sealed class NetworkFixture : VmFixture
{
    protected override SwitchManager CreateSwitches() => new(Options.Networking, Options.StateRoot, Options.RunRoot, NullLogger.Instance);

    /// <summary>A container serving "hello-NAME" over HTTP on port 80 (busybox httpd), started.</summary>
    public async Task<ContainerInfo> StartWebAsync(string name, RuntimeType runtime, string? switchName, params PortMapping[] ports)
    {
        var created = await Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = name,
            Image = "busybox",
            RuntimeType = runtime,
            SwitchName = switchName,
            Ports = ports,
            Command = ["sh", "-c", "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"],
        });
        return await Compute.Containers.StartContainerAsync(created.Id);
    }

    public Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(string container, params string[] command) =>
        ComputeFixture.ExecAsync(Compute, container, command);

    /// <summary>Runs a shell command in the container, retrying briefly (a VM's httpd may still be starting); returns the last result.</summary>
    public async Task<(int ExitCode, string Output)> ShAsync(string container, string script, int attempts = 1)
    {
        (int ExitCode, string Stdout, string Stderr) result = default;
        for (var i = 0; i < attempts; i++)
        {
            result = await ExecAsync(container, "sh", "-c", script);
            if (result.ExitCode == 0)
            {
                break;
            }

            await Task.Delay(500);
        }

        return (result.ExitCode, result.Stdout + result.Stderr);
    }

    /// <summary>Ping and HTTP from one container to another (by address or name); the page names the container that answered.</summary>
    public async Task AssertReachesAsync(string from, string target, string expectedName)
    {
        var (ping, pingOutput) = await ShAsync(from, $"ping -c1 -W3 {target}", attempts: 5);
        Assert.True(ping == 0, $"{from} cannot ping {target}: {pingOutput}");
        var (get, body) = await ShAsync(from, $"timeout 10 wget -q -O - http://{target}/", attempts: 10);
        Assert.True(get == 0, $"{from} cannot fetch http://{target}/: {body}");
        Assert.Equal($"hello-{expectedName}", body.Trim());
    }

    /// <summary>Interfaces, namespaces and the table this sandbox's switches may leave: empty when nothing of ours remains.</summary>
    public IReadOnlyList<string> NetworkLeftovers()
    {
        var left = new List<string>();
        left.AddRange(TestSandbox.LinksOf(Options.Networking.InterfacePrefix).Select(l => "interface " + l));
        if (TestSandbox.NftTableExists(Options.Networking.NftTable))
        {
            left.Add("nftables table " + Options.Networking.NftTable);
        }

        if (TestSandbox.NftTableExists(Options.Networking.NftTable, "bridge"))
        {
            left.Add("nftables bridge table " + Options.Networking.NftTable);
        }

        var pool = Ipv4Subnet.Parse(Options.Networking.AddressPool);
        foreach (var (route, device) in HostNetwork.HostRoutes().Where(r => r.Subnet.Overlaps(pool)))
        {
            left.Add($"route {route} on {device}");
        }

        var ns = Path.Combine(Options.RunRoot, "net", "ns");
        if (Directory.Exists(ns))
        {
            left.AddRange(Directory.EnumerateFiles(ns).Select(f => "namespace " + f));
        }

        return left;
    }
}
