using Xunit;

namespace Portal.Tests.Shared;

/// <summary>
/// containerd's RequiresRoot: the integration tier drives real containers, VMs, loop devices, mounts, cgroups and
/// bridges, which needs root. As root (CI, ./deploy/portal test) these tests run; as any other user they are reported
/// as skipped with this reason, and the unit tier still runs. Fixtures of such tests start nothing unless
/// <see cref="IsRoot"/> holds, so a skipped class costs nothing.
/// </summary>
public static class RootOnly
{
    public const string Reason = "needs root (real containers, VMs, mounts, loop devices, cgroups, bridges): run ./deploy/portal test as root";

    public static bool IsRoot { get; } = Environment.UserName == "root";
}

/// <summary>A test of the integration tier: runs as root, skipped with <see cref="RootOnly.Reason"/> otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!RootOnly.IsRoot)
        {
            Skip = RootOnly.Reason;
        }
    }
}

/// <summary>A data-driven test of the integration tier: runs as root, skipped with <see cref="RootOnly.Reason"/> otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!RootOnly.IsRoot)
        {
            Skip = RootOnly.Reason;
        }
    }
}
