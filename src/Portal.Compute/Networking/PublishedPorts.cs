using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>
/// Published ports: checked at create (<see cref="Validate"/>), served while the container runs by one
/// <see cref="PortProxy"/> relay per port, closed when it stops. Every relay shares one <see cref="RelayLimits"/>.
/// </summary>
public sealed class PublishedPorts(ILogger logger, int maxConnectionsPerPort = NetworkOptions.DefaultPublishedPortMaxConnections, int maxConnections = NetworkOptions.DefaultPublishedPortsMaxConnections) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, IReadOnlyList<PortProxy>> _proxies = new(StringComparer.Ordinal);
    private readonly RelayLimits _limits = new(maxConnectionsPerPort, maxConnections);

    /// <summary>Connections relayed now over every published port.</summary>
    public int ActiveConnections => _limits.Active;

    /// <summary>Connections refused at a cap since the agent started.</summary>
    public long RefusedConnections => _limits.Refused;

    /// <summary>Checks the ports a new container wants to publish: NAT switch, valid numbers, not published by another container, not held by another program (port 0 gets a free port now).</summary>
    public static IReadOnlyList<PortMapping> Validate(SwitchRecord sw, IReadOnlyList<PortMapping> ports, IEnumerable<ContainerRecord> containers)
    {
        if (ports.Count == 0)
        {
            return [];
        }

        var result = new List<PortMapping>();
        foreach (var mapping in Normalize(sw, ports, containers))
        {
            // Bind now: a port another program holds is refused at create, and port 0 gets its number.
            using var probe = PortProxy.Bind(new IPEndPoint(mapping.HostIp is null ? IPAddress.Any : IPAddress.Parse(mapping.HostIp), mapping.HostPort));
            result.Add(mapping with { HostPort = ((IPEndPoint)probe.LocalEndpoint).Port });
            probe.Stop();
        }

        return result;
    }

    /// <summary>The checks of <see cref="Validate"/> that need no socket: switch type, protocol, numbers, addresses, clashes with other containers' ports.</summary>
    public static IReadOnlyList<PortMapping> Normalize(SwitchRecord sw, IReadOnlyList<PortMapping> ports, IEnumerable<ContainerRecord> containers)
    {
        if (ports.Count == 0)
        {
            return [];
        }

        if (sw.Type != SwitchType.Nat)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Ports are published only on NAT switches; '{sw.Name}' is {sw.Type}: connect the container to a NAT switch, or publish nothing.");
        }

        var result = new List<PortMapping>();
        var taken = containers.SelectMany(c => c.Ports.Select(p => (Container: c.Name, Port: p))).ToList();
        foreach (var port in ports)
        {
            var protocol = string.IsNullOrEmpty(port.Protocol) ? "tcp" : port.Protocol.ToLowerInvariant();
            if (protocol != "tcp")
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Publishing {port.Protocol} ports is not supported: only tcp ports are published.");
            }

            if (port.ContainerPort is < 1 or > 65535 || port.HostPort is < 0 or > 65535)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid port mapping {port.HostPort}:{port.ContainerPort}: ports are 1 to 65535 (host port 0 picks a free one).");
            }

            var hostIp = string.IsNullOrEmpty(port.HostIp) ? IPAddress.Any : IPAddress.TryParse(port.HostIp, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                ? ip
                : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid host address '{port.HostIp}' for a published port: give an IPv4 address of this host (or none for every address).");
            var mapping = port with { HostIp = hostIp.Equals(IPAddress.Any) ? null : hostIp.ToString(), Protocol = protocol };
            foreach (var other in taken.Concat(result.Select(r => (Container: "(this container)", Port: r))))
            {
                if (mapping.HostPort != 0 && other.Port.HostPort == mapping.HostPort && Overlap(other.Port.HostIp, mapping.HostIp))
                {
                    throw new ComputeException(ComputeErrorCode.PortInUse, $"Host port {mapping.HostPort} is already published by container '{other.Container}': choose another host port, or remove that container.");
                }
            }

            result.Add(mapping);
        }

        return result;
    }

    private static bool Overlap(string? a, string? b) => a is null || b is null || a == b;

    /// <summary>Opens the container's published ports (after it started, or after the agent re-adopted it).</summary>
    public async Task OpenAsync(ContainerRecord record)
    {
        await CloseAsync(record.Id).ConfigureAwait(false);
        if (record.Ports.Count == 0 || record.IpAddress is null)
        {
            return;
        }

        var target = IPAddress.Parse(record.IpAddress);
        var proxies = new List<PortProxy>();
        try
        {
            foreach (var port in record.Ports)
            {
                var listen = new IPEndPoint(port.HostIp is null ? IPAddress.Any : IPAddress.Parse(port.HostIp), port.HostPort);
                proxies.Add(PortProxy.Start(listen, new IPEndPoint(target, port.ContainerPort), _limits, logger));
            }
        }
        catch
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        _proxies[record.Id] = proxies;
    }

    public async Task CloseAsync(string containerId)
    {
        if (_proxies.TryRemove(containerId, out var proxies))
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _proxies.Keys.ToList())
        {
            await CloseAsync(id).ConfigureAwait(false);
        }
    }
}
