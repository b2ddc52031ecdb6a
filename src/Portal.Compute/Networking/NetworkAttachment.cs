using Microsoft.Win32.SafeHandles;
using Portal.Contracts.Guest;

namespace Portal.Compute.Networking;

/// <summary>
/// What one run of a container gets from its switch, handed to the isolation driver: process isolation joins the network
/// namespace and bind-mounts the hosts file; VM isolation hands the tap to its worker and the guest configures itself.
/// Disposing closes the agent's own descriptor of the tap (the worker keeps its copy, so the tap lives as long as the VM).
/// </summary>
public sealed class NetworkAttachment : IDisposable
{
    /// <summary>The container's network namespace file (process isolation; also with switch None: loopback only).</summary>
    public string? NamespacePath { get; init; }

    /// <summary>The container's /etc/hosts on the host, rewritten in place when its switch's members change.</summary>
    public required string HostsPath { get; init; }

    /// <summary>The content of the hosts file now.</summary>
    public required string Hosts { get; init; }

    /// <summary>VM isolation: the open tap (null with switch None).</summary>
    public SafeFileHandle? Tap { get; init; }

    /// <summary>VM isolation: how the guest configures its interface (null with switch None).</summary>
    public GuestNetwork? Guest { get; init; }

    public void Dispose() => Tap?.Dispose();
}
