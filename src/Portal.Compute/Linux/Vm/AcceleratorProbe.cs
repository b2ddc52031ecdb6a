using System.Diagnostics;
using System.Text.Json;

namespace Portal.Compute.Linux.Vm;

/// <summary>The accelerator this host's VMs run on, and why (shown in host info).</summary>
public sealed record AcceleratorChoice(VmAccelerator Accelerator, string Reason)
{
    public string Name => Accelerator == VmAccelerator.Kvm ? "kvm" : "tcg";
}

/// <summary>What the probe needs from the host: a seam so the decision logic is testable without booting anything.</summary>
internal interface IKvmHost
{
    bool DevicePresent { get; }

    /// <summary>Identifies this boot of the host, so a cached probe result is trusted only until the next reboot.</summary>
    string BootId { get; }

    /// <summary>Boots a trivial guest under KVM; null when it printed its marker in time, else why not.</summary>
    Task<string?> BootGuestAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// auto picks KVM only after a real guest booted under it (nested virtualization often exposes /dev/kvm whose guests
/// hang); the answer is cached for the boot, so agent restarts do not pay for the probe again.
/// </summary>
internal static class AcceleratorProbe
{
    public static async Task<AcceleratorChoice> ChooseAsync(VmAccelerator requested, IKvmHost host, string cachePath, TimeSpan timeout, CancellationToken ct)
    {
        switch (requested)
        {
            case VmAccelerator.Tcg:
                return new AcceleratorChoice(VmAccelerator.Tcg, "TCG was configured (Compute:VmAccelerator = tcg).");
            case VmAccelerator.Kvm:
                return host.DevicePresent
                    ? new AcceleratorChoice(VmAccelerator.Kvm, "KVM was configured (Compute:VmAccelerator = kvm).")
                    : throw new ComputeException(ComputeErrorCode.NotSupported, "KVM was configured (Compute:VmAccelerator = kvm) but /dev/kvm does not exist; load kvm_intel or kvm_amd, or set it to auto or tcg.");
        }

        if (!host.DevicePresent)
        {
            return new AcceleratorChoice(VmAccelerator.Tcg, "/dev/kvm does not exist, so guests run under TCG (software emulation).");
        }

        if (ReadCache(cachePath) is { } cached && cached.BootId == host.BootId)
        {
            return new AcceleratorChoice(cached.Accelerator, cached.Reason);
        }

        var watch = Stopwatch.StartNew();
        var failure = await host.BootGuestAsync(timeout, ct).ConfigureAwait(false);
        var choice = failure is null
            ? new AcceleratorChoice(VmAccelerator.Kvm, $"A test guest booted under KVM in {watch.Elapsed.TotalSeconds:0.0} s.")
            : new AcceleratorChoice(VmAccelerator.Tcg, $"/dev/kvm exists but a test guest did not boot under KVM ({failure}), so guests run under TCG.");
        WriteCache(cachePath, new AcceleratorCache(host.BootId, choice.Accelerator, choice.Reason));
        return choice;
    }

    private static AcceleratorCache? ReadCache(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), VmJsonContext.Default.AcceleratorCache) : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static void WriteCache(string path, AcceleratorCache cached)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(cached, VmJsonContext.Default.AcceleratorCache));
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>The probe's answer for one boot of the host.</summary>
internal sealed record AcceleratorCache(string BootId, VmAccelerator Accelerator, string Reason);

[System.Text.Json.Serialization.JsonSerializable(typeof(AcceleratorCache))]
internal sealed partial class VmJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>The real host: /dev/kvm, the kernel's boot id, and a boot of the guest kernel with <see cref="ProbeInitramfs"/>.</summary>
internal sealed class KvmHost(string qemuPath, string kernelPath, string initramfsPath) : IKvmHost
{
    public bool DevicePresent => File.Exists("/dev/kvm");

    public string BootId => File.Exists("/proc/sys/kernel/random/boot_id") ? File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim() : "unknown";

    public async Task<string?> BootGuestAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            var result = await HostCommand.RunAsync(
                qemuPath,
                [
                    "-M", "pc", "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                    "-serial", "stdio", "-kernel", kernelPath, "-initrd", initramfsPath, "-append", QemuCommandLine.KernelParameters(VmAccelerator.Kvm, null),
                ],
                limit.Token).ConfigureAwait(false);
            if (result.Output.Contains(ProbeInitramfs.Marker, StringComparison.Ordinal))
            {
                return null;
            }

            var reason = (result.Error + result.Output).Trim().Split('\n').LastOrDefault(l => l.Trim().Length > 0)?.Trim();
            return $"QEMU exited with {result.ExitCode}: {reason}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no guest output within {timeout.TotalSeconds:0} s";
        }
    }
}
