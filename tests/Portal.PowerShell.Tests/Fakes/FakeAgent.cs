using System.Collections.Concurrent;
using System.Globalization;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.PowerShell.Tests.Fakes;

/// <summary>
/// A hand-written agent behind Portal.Client's seam (<see cref="IAgentClientFactory"/>): containers and switches in memory
/// with the agent's rules and error codes (names are unique, only a stopped container starts, a running one is removed
/// only with force, ...). It records every call as "Method arg ..." and can refuse the connection or fail any method,
/// so the cmdlets' outputs and ErrorRecords are tested without root, an agent or a container.
/// </summary>
public sealed class FakeAgent : IAgentClientFactory
{
    private readonly Lock _lock = new();
    private readonly List<ContainerInfo> _containers = [];
    private int _created;

    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>Every client made (one per connection the module opened), in order.</summary>
    public ConcurrentQueue<FakeAgentClient> Clients { get; } = new();

    /// <summary>Makes ConnectAsync throw this (AgentUnreachable, Unauthorized ...).</summary>
    public AgentException? ConnectError { get; set; }

    /// <summary>Makes the named method (for example "StartContainer") throw this.</summary>
    public ConcurrentDictionary<string, AgentException> Failures { get; } = new();

    public ContainerCreateSpec? LastCreateSpec { get; private set; }

    /// <summary>The warnings every create and conversion answers (a team policy in Warn mode).</summary>
    public List<string> PolicyWarnings { get; } = [];

    public List<SwitchInfo> Switches { get; } =
    [
        new() { Id = "sw-none", Name = "none", Type = SwitchType.None, IsBuiltIn = true, CreatedAt = DateTimeOffset.UnixEpoch },
        new() { Id = "sw-nat", Name = "NAT", Type = SwitchType.Nat, Subnet = "10.89.0.0/24", Gateway = "10.89.0.1", Bridge = "ptlbr0", Aliases = ["Virtual Switch"], IsDefault = true, CreatedAt = DateTimeOffset.UnixEpoch },
    ];

    /// <summary>The processes inside each container, by container id.</summary>
    public Dictionary<string, List<ContainerProcessInfo>> Processes { get; } = [];

    public IReadOnlyList<ContainerInfo> Containers
    {
        get
        {
            lock (_lock)
            {
                return [.. _containers];
            }
        }
    }

    public IAgentClient Create(AgentEndpoint endpoint)
    {
        var client = new FakeAgentClient(this, endpoint);
        Clients.Enqueue(client);
        return client;
    }

    /// <summary>A container as the agent would have it, without going through a cmdlet.</summary>
    public ContainerInfo Add(string name, ContainerState state = ContainerState.Created, RuntimeType runtimeType = RuntimeType.Default)
    {
        lock (_lock)
        {
            var id = (++_created).ToString("x4", CultureInfo.InvariantCulture) + Convert.ToHexStringLower(global::System.Text.Encoding.UTF8.GetBytes(name.PadRight(30, '0')))[..60];
            var container = new ContainerInfo
            {
                Id = id,
                Name = name,
                Image = "busybox:latest",
                ImageId = "sha256:busybox",
                RuntimeType = runtimeType,
                State = state,
                Command = ["sh"],
                Environment = [],
                Limits = new ContainerLimits(),
                Labels = new Dictionary<string, string>(),
                CreatedAt = DateTimeOffset.UnixEpoch.AddMinutes(_created),
                SwitchName = "NAT",
            };
            _containers.Add(container);
            return container;
        }
    }

    internal void Run(string method, params object?[] args)
    {
        Calls.Enqueue(string.Join(' ', new[] { method }.Concat(args.Select(a => a?.ToString() ?? "null"))));
        if (Failures.TryGetValue(method, out var failure))
        {
            throw failure;
        }
    }

    internal ContainerInfo Find(string reference)
    {
        lock (_lock)
        {
            var matches = _containers.Where(c => c.Id == reference || c.Name == reference).ToList();
            if (matches.Count == 0)
            {
                matches = [.. _containers.Where(c => c.Id.StartsWith(reference, StringComparison.Ordinal))];
            }

            return matches.Count == 1 ? matches[0] : throw new AgentException("ContainerNotFound", $"No such container: '{reference}'.", 404);
        }
    }

    internal ContainerInfo Create(ContainerCreateSpec spec)
    {
        LastCreateSpec = spec;
        if (spec.Name is { } name && name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.'))
        {
            throw new AgentException("InvalidArgument", $"Invalid container name '{name}': use letters, digits, '.', '-' and '_'.", 400);
        }

        if (spec.Image.StartsWith("no-such", StringComparison.Ordinal))
        {
            throw new AgentException("ImageNotFound", $"No such image: '{spec.Image}'.", 404);
        }

        var switchName = spec.SwitchName is null ? "NAT" : Switches.FirstOrDefault(s => s.Name == spec.SwitchName || s.Aliases.Contains(spec.SwitchName))?.Name
            ?? throw new AgentException("SwitchNotFound", $"No such switch: '{spec.SwitchName}'.", 404);
        lock (_lock)
        {
            if (_containers.Any(c => c.Name == spec.Name))
            {
                throw new AgentException("NameInUse", $"The name '{spec.Name}' is in use by another container.", 409);
            }
        }

        var created = Add(spec.Name ?? $"generated{_created + 1}", ContainerState.Created, spec.RuntimeType ?? RuntimeType.Default) with
        {
            Image = spec.Image,
            Command = spec.Command ?? ["sh"],
            Environment = spec.Environment,
            Limits = spec.Limits,
            Labels = spec.Labels,
            SwitchName = switchName,
            Ports = [.. spec.Ports.Select(p => p with { HostPort = p.HostPort == 0 ? 32768 : p.HostPort })],
        };
        return Replace(created);
    }

    /// <summary>Moves a container from one of <paramref name="from"/> to <paramref name="to"/>, or refuses as the agent does (InvalidTransition).</summary>
    internal ContainerInfo Transition(string reference, ContainerState[] from, ContainerState to, string refusal)
    {
        var container = Find(reference);
        if (!from.Contains(container.State))
        {
            throw new AgentException("InvalidTransition", $"Container '{container.Name}' is {container.State}: {refusal}", 409);
        }

        return Replace(container with { State = to });
    }

    internal ContainerInfo Replace(ContainerInfo container)
    {
        lock (_lock)
        {
            _containers.RemoveAll(c => c.Id == container.Id);
            _containers.Add(container);
            return container;
        }
    }

    internal void Remove(string reference, bool force)
    {
        var container = Find(reference);
        if (container.State == ContainerState.Running && !force)
        {
            throw new AgentException("InvalidTransition", $"Container '{container.Name}' is running: stop it first, or remove it with force.", 409);
        }

        lock (_lock)
        {
            _containers.RemoveAll(c => c.Id == container.Id);
        }
    }

    /// <summary>Each container's compute system, and a VirtualMachine for each running VM-isolated one.</summary>
    internal IReadOnlyList<ComputeSystemInfo> ComputeSystems() =>
    [
        .. Containers.SelectMany(c => c.RuntimeType == RuntimeType.HyperV && c.State == ContainerState.Running
            ? new[] { ComputeSystem(c, c.Id, ComputeSystemType.Container, null), ComputeSystem(c, c.Id + "@vm", ComputeSystemType.VirtualMachine, 4242) }
            : [ComputeSystem(c, c.Id, ComputeSystemType.Container, c.State == ContainerState.Running ? 1717 : null)]),
    ];

    private static ComputeSystemInfo ComputeSystem(ContainerInfo c, string id, ComputeSystemType type, int? hostPid) => new()
    {
        Id = id,
        Name = c.Name,
        Owner = "portal",
        Type = type,
        RuntimeType = c.RuntimeType,
        State = c.State,
        HostPid = hostPid,
    };
}
