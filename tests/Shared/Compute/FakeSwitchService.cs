using System.Collections.Concurrent;
using Portal.Compute;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Tests.Shared.Compute;

/// <summary>Switches as records: the built-in none and a default NAT switch ("nat", alias "bridge"), as a fresh host has.</summary>
public sealed class FakeSwitchService : ISwitchService
{
    private readonly ConcurrentDictionary<string, SwitchInfo> _switches = new(StringComparer.Ordinal);

    public FakeSwitchService()
    {
        Add(new SwitchInfo { Id = "0000000000000000000000000000000000000000000000000000000000000000", Name = "none", Type = SwitchType.None, IsBuiltIn = true });
        Add(new SwitchInfo
        {
            Id = "1111111111111111111111111111111111111111111111111111111111111111",
            Name = "nat",
            Type = SwitchType.Nat,
            Subnet = "10.88.0.0/16",
            Gateway = "10.88.0.1",
            Bridge = "ptlbr0",
            Aliases = ["bridge", "Virtual Switch"],
            IsDefault = true,
        });
    }

    public event Action? SwitchesChanged;

    public IReadOnlyList<SwitchInfo> ListSwitches() => [.. _switches.Values.OrderBy(s => s.IsBuiltIn ? 0 : 1).ThenBy(s => s.Name, StringComparer.Ordinal)];

    public SwitchInfo GetSwitch(string nameOrId) =>
        _switches.Values.FirstOrDefault(s => s.Name == nameOrId || s.Id == nameOrId || s.Aliases.Contains(nameOrId))
        ?? throw SwitchCatalog.NotFound(nameOrId);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default)
    {
        if (_switches.Values.Any(s => s.Name == spec.Name))
        {
            throw new ComputeException(ComputeErrorCode.NameInUse, $"A switch named '{spec.Name}' already exists.");
        }

        var created = new SwitchInfo { Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()).PadRight(64, '0'), Name = spec.Name, Type = spec.Type, Subnet = spec.Subnet, CreatedAt = DateTimeOffset.UtcNow, Team = spec.Team };
        Add(created);
        SwitchesChanged?.Invoke();
        return Task.FromResult(created);
    }

    public Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default)
    {
        var sw = GetSwitch(nameOrId);
        _switches.TryRemove(sw.Id, out _);
        SwitchesChanged?.Invoke();
        return Task.CompletedTask;
    }

    private void Add(SwitchInfo sw) => _switches[sw.Id] = sw;
}
