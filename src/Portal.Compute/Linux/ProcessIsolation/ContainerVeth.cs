using Portal.Compute.Networking;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// The process-isolated container's own network device: a persistent network namespace with a veth into its switch's
/// bridge, made before the OCI runtime starts the container (which joins the namespace) and removed in the driver's
/// clean-up. The names are recorded in the run directory so a clean-up after an agent restart still finds them.
/// </summary>
internal static class ContainerVeth
{
    private const string FileName = "veth";

    /// <summary>Plugs the container into its switch; returns the namespace to join (null: switch none, the runtime makes an empty one).</summary>
    public static async Task<string?> PlugAsync(NetworkAttachment? network, string runDirectory, CancellationToken ct)
    {
        if (network?.Port is not { } port)
        {
            return null;
        }

        Directory.CreateDirectory(runDirectory);
        await File.WriteAllLinesAsync(Path.Combine(runDirectory, FileName), [port.VethName, port.PeerName, port.NamespacePath], ct).ConfigureAwait(false);
        // Whatever an earlier run left under these names (a crash before its clean-up).
        await network.Plumbing.RemoveVethNamespaceAsync(port.VethName, port.PeerName, port.NamespacePath, ct).ConfigureAwait(false);
        await network.Plumbing.AddVethNamespaceAsync(port, ct).ConfigureAwait(false);
        return port.NamespacePath;
    }

    /// <summary>Removes the veth and the namespace recorded in the run directory. Idempotent.</summary>
    public static async Task UnplugAsync(string runDirectory, CancellationToken ct)
    {
        var file = Path.Combine(runDirectory, FileName);
        if (!File.Exists(file))
        {
            return;
        }

        if (await File.ReadAllLinesAsync(file, ct).ConfigureAwait(false) is [var veth, var peer, var ns, ..])
        {
            await LinkPlumbing.Host.RemoveVethNamespaceAsync(veth, peer, ns, ct).ConfigureAwait(false);
        }

        File.Delete(file);
    }
}
