using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>The switch service with creations and removals recorded (see <see cref="AuditedComputeHost"/>).</summary>
internal sealed class AuditedSwitchService(IComputeHost host, AuditTrail trail) : ISwitchService
{
    private const string Type = "switch";

    private ISwitchService Inner => host.Switches;

    public event Action? SwitchesChanged
    {
        add => Inner.SwitchesChanged += value;
        remove => Inner.SwitchesChanged -= value;
    }

    public IReadOnlyList<SwitchInfo> ListSwitches() => Inner.ListSwitches();

    public SwitchInfo GetSwitch(string nameOrId) => Inner.GetSwitch(nameOrId);

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct = default) =>
        trail.RecordAsync(AuditActions.SwitchCreate, trail.Target(Type, null, spec.Name), () => Inner.CreateSwitchAsync(spec, ct),
            s => trail.Target(Type, s.Id, s.Name), details: new Dictionary<string, string>(StringComparer.Ordinal) { ["type"] = spec.Type.ToString() });

    public Task RemoveSwitchAsync(string nameOrId, CancellationToken ct = default)
    {
        AuditTarget before;
        try
        {
            var sw = Inner.GetSwitch(nameOrId);
            before = trail.Target(Type, sw.Id, sw.Name);
        }
        catch (ComputeException)
        {
            before = trail.Target(Type, null, nameOrId);
        }

        return trail.RecordAsync(AuditActions.SwitchRemove, before, () => Inner.RemoveSwitchAsync(nameOrId, ct));
    }
}
