using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.Tests.Fakes;

/// <summary>Containers, views and host info as an agent would send them.</summary>
public static class Views
{
    public static ContainerInfo Info(string name, ContainerState state, RuntimeType runtimeType = RuntimeType.Default) => new()
    {
        Id = $"{name}-{Math.Abs(name.GetHashCode(StringComparison.Ordinal)):x8}0000000000000000",
        Name = name,
        Image = "busybox:latest",
        ImageId = "sha256:busybox",
        RuntimeType = runtimeType,
        State = state,
        Command = ["sh"],
        Environment = [],
        Limits = new ContainerLimits(),
        Labels = new Dictionary<string, string>(),
        CreatedAt = DateTimeOffset.UtcNow.AddMinutes(-10),
        StartedAt = state == ContainerState.Running ? DateTimeOffset.UtcNow.AddMinutes(-5) : null,
    };

    /// <summary>The view with the agent's commands for that state (as ContainerCommands advertises them).</summary>
    public static ContainerView View(ContainerInfo c)
    {
        var running = c.State == ContainerState.Running;
        var other = c.RuntimeType == RuntimeType.HyperV ? RuntimeType.Default : RuntimeType.HyperV;
        return new ContainerView(c,
        [
            new ContainerCommand("start", "Start", !running, running ? $"Container '{c.Name}' is already running." : null, false),
            new ContainerCommand("stop", "Stop", running, running ? null : $"Container '{c.Name}' is not running.", false),
            new ContainerCommand("restart", "Restart", true, null, false),
            new ContainerCommand("kill", "Kill", running, running ? null : $"Container '{c.Name}' is not running.", true),
            new ContainerCommand("exec", "Terminal", running, running ? null : $"Container '{c.Name}' is not running.", false),
            new ContainerCommand("convert", $"Convert to {other}", true, null, running),
            new ContainerCommand("remove", "Remove", true, null, true),
        ]);
    }

    public static ContainerView View(string name, ContainerState state, RuntimeType runtimeType = RuntimeType.Default) => View(Info(name, state, runtimeType));

    public static ChangeBatch<ContainerView> Snapshot(params ContainerView[] views) =>
        new(true, [.. views.Select(v => new Change<ContainerView>(ChangeKind.Upsert, v.Container.Id, v))], DateTimeOffset.UtcNow);

    public static ChangeBatch<ContainerView> Upsert(params ContainerView[] views) =>
        new(false, [.. views.Select(v => new Change<ContainerView>(ChangeKind.Upsert, v.Container.Id, v))], DateTimeOffset.UtcNow);

    public static ChangeBatch<ContainerView> Delete(ContainerView view) =>
        new(false, [new Change<ContainerView>(ChangeKind.Delete, view.Container.Id, null)], DateTimeOffset.UtcNow);

    public static HostInfo Host(string hostname) => new()
    {
        Hostname = hostname,
        Kernel = "6.1.0-test",
        OperatingSystem = "Debian GNU/Linux 12",
        Cpus = 2,
        MemoryBytes = 4L << 30,
        CgroupMode = "hybrid",
        ProcessRuntime = new RuntimeChoice { Name = "runc", Path = "/usr/sbin/runc", Version = "1.1.5", Reason = "crun refused this host's hybrid cgroups" },
        VmAccelerator = "tcg",
        VmAcceleratorReason = "KVM guests did not boot within the probe's timeout",
        RuntimeTypes = [RuntimeType.Default, RuntimeType.HyperV],
        Containers = 2,
        RunningContainers = 1,
        Images = 1,
        Version = "test",
    };

    /// <summary>A switch as the agent lists it: Nat and Internal have a gateway (the subnet's first address), None has no subnet.</summary>
    public static SwitchInfo Switch(string name, SwitchType type, string? subnet, bool isDefault = false, params SwitchEndpoint[] containers) => new()
    {
        Id = $"{Math.Abs(name.GetHashCode(StringComparison.Ordinal)):x8}00000000",
        Name = name,
        Type = type,
        Subnet = type == SwitchType.None ? null : subnet,
        Gateway = type is SwitchType.Nat or SwitchType.Internal && subnet is not null ? subnet[..subnet.LastIndexOf('.')] + ".1" : null,
        Bridge = type == SwitchType.None ? null : $"ptlbr{name}",
        Aliases = isDefault ? ["Virtual Switch", "Default Switch"] : [],
        IsDefault = isDefault,
        IsBuiltIn = type == SwitchType.None,
        Containers = containers,
        CreatedAt = DateTimeOffset.UnixEpoch,
    };

    /// <summary>The switches a fresh agent has: none (built in) and the default NAT switch.</summary>
    public static IEnumerable<SwitchInfo> DefaultSwitches() =>
        [Switch("none", SwitchType.None, null), Switch("NAT", SwitchType.Nat, "10.89.0.0/24", isDefault: true)];
}
