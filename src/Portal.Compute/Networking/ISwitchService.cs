using Portal.Contracts;

namespace Portal.Compute.Networking;

/// <summary>Virtual switches (HNS networks) as callers see them: list, create, remove. Containers join one at create.</summary>
public interface ISwitchService
{
    /// <summary>Raised after a switch was created or removed (container changes raise <see cref="Containers.IContainerService.Changed"/>).</summary>
    event Action? SwitchesChanged;

    /// <summary>Every switch (the built-in none first) with the containers connected to it.</summary>
    IReadOnlyList<SwitchInfo> ListSwitches();

    /// <summary>A switch by name, alias, id or unique id prefix.</summary>
    SwitchInfo GetSwitch(string nameOrId);

    Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default);

    /// <summary>Removes a switch no container uses: its bridge, rules and addresses go with it.</summary>
    Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default);
}
