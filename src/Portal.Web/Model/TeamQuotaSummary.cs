using System.Globalization;
using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>
/// What the create dialog tells a team member before submit: the acting team's quota on the chosen host with what is
/// left (from the agent's usage when it answered), the per-container defaults and maxima, and the allowed runtime types.
/// </summary>
public static class TeamQuotaSummary
{
    public static IReadOnlyList<string> Lines(TeamInfo team, TeamUsage? usage)
    {
        var quota = usage?.Quota ?? team.Quota;
        var lines = new List<string>();
        void Add(string what, double? limit, double? used, Func<double, string> format)
        {
            if (limit is not { } l)
            {
                return;
            }

            lines.Add(used is { } u
                ? $"{what}: {format(u)} of {format(l)} used, {format(Math.Max(0, l - u))} left"
                : $"{what}: at most {format(l)} (current use unknown)");
        }

        static string Count(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        static string Memory(double v) => Format.Bytes((long)v);
        Add("Containers", quota.Containers, usage?.Containers, Count);
        Add("VM-isolated containers", quota.VmContainers, usage?.VmContainers, Count);
        Add("CPUs", quota.Cpus, usage?.Cpus, Count);
        Add("Memory", quota.MemoryBytes, usage?.MemoryBytes, Memory);
        var limits = quota.Limits;
        if (limits.DefaultCpus is not null || limits.DefaultMemoryBytes is not null)
        {
            lines.Add($"Without limits a container gets {string.Join(" and ", new[] { limits.DefaultCpus is { } c ? $"{Count(c)} CPUs" : null, limits.DefaultMemoryBytes is { } m ? Memory(m) : null }.OfType<string>())}");
        }

        if (limits.MaxCpus is not null || limits.MaxMemoryBytes is not null)
        {
            lines.Add($"Per container at most {string.Join(" and ", new[] { limits.MaxCpus is { } c ? $"{Count(c)} CPUs" : null, limits.MaxMemoryBytes is { } m ? Memory(m) : null }.OfType<string>())}");
        }

        if (lines.Count == 0)
        {
            lines.Add("No quota on this host.");
        }

        return lines;
    }

    /// <summary>The runtime types the policy lets the team create (every type when it names none).</summary>
    public static IReadOnlyList<RuntimeType> AllowedRuntimeTypes(TeamInfo? team) =>
        team is { Policy.AllowedRuntimeTypes.Count: > 0 } t ? t.Policy.AllowedRuntimeTypes : Enum.GetValues<RuntimeType>();
}
