using Portal.Compute.Linux.ProcessIsolation;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>A team's isolation policy, pure: the runtime type a create gets, whether a runtime type is allowed, and privileged options.</summary>
public static class TeamPolicy
{
    /// <summary>
    /// The runtime type of a create: the one it names, else the policy's default, else the host's default when the
    /// policy allows it, else the first type the policy allows.
    /// </summary>
    public static RuntimeType Effective(IsolationPolicy policy, RuntimeType? requested, RuntimeType hostDefault) =>
        requested ?? policy.DefaultRuntimeType ?? (Allows(policy, hostDefault) ? hostDefault : policy.AllowedRuntimeTypes[0]);

    public static bool Allows(IsolationPolicy policy, RuntimeType runtimeType) =>
        policy.AllowedRuntimeTypes.Count == 0 || policy.AllowedRuntimeTypes.Contains(runtimeType);

    /// <summary>Null when the policy allows the runtime type; else why not, naming the allowed types and what to do.</summary>
    public static string? RuntimeRefusal(string team, IsolationPolicy policy, RuntimeType runtimeType, bool conversion)
    {
        if (Allows(policy, runtimeType))
        {
            return null;
        }

        var allowed = string.Join(" or ", policy.AllowedRuntimeTypes.Select(Describe));
        var instead = conversion
            ? "keep the container as it is"
            : $"create it with runtime type {string.Join(" or ", policy.AllowedRuntimeTypes)}";
        return $"Team '{team}' may use {allowed} only (its isolation policy); {(conversion ? "converting a container to" : "a container with")} {Describe(runtimeType)} is not allowed. "
            + $"{char.ToUpperInvariant(instead[0])}{instead[1..]}, or ask an administrator to change the policy (rule: {TeamRules.IsolationPolicyRule}).";
    }

    /// <summary>
    /// Null when the options loosen nothing or the policy allows privileged options; else what was asked and what to do.
    /// A pids limit above the host's default (<paramref name="hostPidsLimit"/>) is privileged too: the default is what
    /// keeps a fork bomb from taking the host's PIDs, one table for every team and the host.
    /// </summary>
    public static string? PrivilegedRefusal(string team, IsolationPolicy policy, ContainerSecurity? security, long? pidsLimit = null, long? hostPidsLimit = null)
    {
        if (policy.AllowPrivileged)
        {
            return null;
        }

        var asked = new List<string>();
        if (pidsLimit is { } pids && hostPidsLimit is { } most && pids > most)
        {
            asked.Add($"a pids limit of {pids}, above this host's default of {most} (Compute:DefaultPidsLimit)");
        }

        security ??= new ContainerSecurity();
        if (security.CapabilityAdd is { Count: > 0 } add)
        {
            asked.Add($"added capabilities ({string.Join(", ", add)})");
        }

        if (security.NoNewPrivileges == false)
        {
            asked.Add("no-new-privileges turned off");
        }

        // Any profile but the default: the host's other profiles may be looser (unconfined, complain mode, or a
        // program's profile with flags=(unconfined) as Ubuntu ships for browsers).
        if (security.AppArmorProfile?.Trim() is { } profile && profile != AppArmorProfile.DefaultName)
        {
            asked.Add(string.Equals(profile, "unconfined", StringComparison.OrdinalIgnoreCase)
                ? "the AppArmor profile unconfined"
                : $"the host's AppArmor profile '{profile}' instead of {AppArmorProfile.DefaultName}");
        }

        return asked.Count == 0
            ? null
            : $"Team '{team}' may not use privileged options, and this container asks for {string.Join(" and ", asked)}. Leave them out, or ask an administrator to allow privileged options in the team's policy (rule: {TeamRules.PrivilegedRule}).";
    }

    public static string Describe(RuntimeType runtimeType) => runtimeType switch
    {
        RuntimeType.HyperV => "VM isolation (HyperV)",
        _ => "process isolation (Default)",
    };
}
