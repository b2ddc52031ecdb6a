using System.Globalization;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>What process isolation honours of a container's security options, and what it refuses (the host's kernel is shared).</summary>
internal static class ProcessSecurityPolicy
{
    private const string UseVm = "use --isolation=hyperv (RuntimeType HyperV), where the container has its own kernel";

    /// <summary>setrlimit's resource numbers (asm-generic/resource.h).</summary>
    private static readonly IReadOnlyDictionary<string, int> RlimitResources = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["cpu"] = 0, ["fsize"] = 1, ["data"] = 2, ["stack"] = 3, ["core"] = 4, ["rss"] = 5, ["nproc"] = 6, ["nofile"] = 7,
        ["memlock"] = 8, ["as"] = 9, ["locks"] = 10, ["sigpending"] = 11, ["msgqueue"] = 12, ["nice"] = 13, ["rttime"] = 15,
    };

    /// <summary>The runtime opens a few descriptors of its own in the container before its process runs.</summary>
    public const long MinNoFile = 16;

    /// <summary>Throws InvalidArgument for what process isolation cannot allow; the options are normalized.</summary>
    /// <param name="hostLimit">The agent's own limits (the runtime inherits them and cannot raise a hard limit above them).</param>
    public static void Check(ContainerSecurity security, AppArmorHost appArmor, Func<int, (ulong Soft, ulong Hard)>? hostLimit = null)
    {
        hostLimit ??= Native.GetRLimit;
        var refused = security.CapabilityAdd.Where(c => !SecurityDefaults.AddableCapabilities.Contains(c)).ToList();
        if (refused.Count > 0)
        {
            throw Invalid($"Adding {string.Join(", ", refused)} is not allowed under process isolation: it acts on the host's kernel beyond the container. "
                + $"Capabilities that may be added: {string.Join(", ", SecurityDefaults.AddableCapabilities.Select(c => c[4..]))}; for others {UseVm}.");
        }

        if (security.NoNewPrivileges == false)
        {
            throw Invalid("no-new-privileges cannot be turned off under process isolation: setuid programs never gain privileges in a process-isolated container; " + UseVm + ".");
        }

        if (security.AppArmorProfile is { } profile)
        {
            if (profile == "unconfined")
            {
                throw Invalid($"apparmor=unconfined is not allowed: process-isolated containers run under an AppArmor profile where the host has AppArmor; {UseVm}.");
            }

            if (!appArmor.Enabled)
            {
                throw Invalid($"AppArmor profile '{profile}' cannot be applied: {appArmor.DisabledReason}. Leave out the apparmor option on this host.");
            }

            if (profile != AppArmorProfile.DefaultName && !appArmor.EnforcedProfiles().Contains(profile))
            {
                throw Invalid($"AppArmor profile '{profile}' is not loaded in enforce mode on this host: load it with apparmor_parser (without -C) first, or leave out the option to get {AppArmorProfile.DefaultName}.");
            }
        }

        foreach (var ulimit in security.Ulimits)
        {
            if (ulimit.Name == "nofile" && ContainerSecurityPolicy.Unlimited(ulimit.Soft) < MinNoFile)
            {
                throw Invalid($"The nofile ulimit must be at least {MinNoFile.ToString(CultureInfo.InvariantCulture)}: the runtime needs a few descriptors to start the container.");
            }

            var max = hostLimit(RlimitResources[ulimit.Name]).Hard;
            if (ContainerSecurityPolicy.Unlimited(ulimit.Hard) > max)
            {
                throw Invalid($"The {ulimit.Name} ulimit {Show(ulimit.Hard)} is above this host's hard limit of {Show(max)} (the agent's own): give at most that.");
            }
        }
    }

    /// <summary>
    /// Before the runtime sees them: each tmpfs must land on a directory (or a path not in the image yet), resolved
    /// inside the container's root; the runtime would otherwise fail with "not a directory" (found by the fuzz tests).
    /// </summary>
    public static void CheckTmpfsTargets(string rootfs, IReadOnlyList<TmpfsMount> mounts)
    {
        foreach (var mount in mounts)
        {
            var target = Images.ContainedPath.Resolve(rootfs, mount.Path, chroot: true);
            if (target is not null && (File.Exists(target) || (Path.Exists(target) && !Directory.Exists(target))))
            {
                throw Invalid($"A tmpfs cannot be mounted at {mount.Path}: it is a file in the image, not a directory. Choose a directory (for example /run or /tmp).");
            }
        }
    }

    private static string Show(long value) => value == -1 ? "unlimited" : value.ToString(CultureInfo.InvariantCulture);

    private static string Show(ulong value) => value is ulong.MaxValue or > long.MaxValue ? "unlimited" : value.ToString(CultureInfo.InvariantCulture);

    private static ComputeException Invalid(string message) => new(ComputeErrorCode.InvalidArgument, message);
}
