using System.Globalization;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>What process isolation honours of a container's security options, and what it refuses (the host's kernel is shared).</summary>
internal static class ProcessSecurityPolicy
{
    private const string UseVm = "use --isolation=hyperv (RuntimeType HyperV), where the container has its own kernel";

    /// <summary>Throws InvalidArgument for what process isolation cannot allow; the options are normalized.</summary>
    public static void Check(ContainerSecurity security, AppArmorHost appArmor, string nrOpenPath = "/proc/sys/fs/nr_open")
    {
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

            if (profile != AppArmorProfile.DefaultName && !appArmor.LoadedProfiles().Contains(profile))
            {
                throw Invalid($"AppArmor profile '{profile}' is not loaded on this host: load it with apparmor_parser first, or leave out the option to get {AppArmorProfile.DefaultName}.");
            }
        }

        if (security.Ulimits.FirstOrDefault(u => u.Name == "nofile") is { } nofile && NrOpen(nrOpenPath) is { } max
            && ContainerSecurityPolicy.Unlimited(nofile.Hard) > (ulong)max)
        {
            throw Invalid($"The nofile ulimit {Show(nofile.Hard)} is above this host's maximum of {max.ToString(CultureInfo.InvariantCulture)} open files (fs.nr_open): give at most that.");
        }
    }

    private static long? NrOpen(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Show(long value) => value == -1 ? "unlimited" : value.ToString(CultureInfo.InvariantCulture);

    private static ComputeException Invalid(string message) => new(ComputeErrorCode.InvalidArgument, message);
}
