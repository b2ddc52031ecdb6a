using Portal.Compute.Storage;

namespace Portal.Compute.Networking;

/// <summary>Persists the switches (written atomically). Its absence means the agent's first start.</summary>
internal sealed class SwitchStore(string directory)
{
    private string FilePath => Path.Combine(directory, "switches.json");

    public bool Exists => File.Exists(FilePath);

    public IReadOnlyList<SwitchRecord> Load() => StateFile.Read<SwitchStoreDocument>(FilePath)?.Switches ?? [];

    public Task SaveAsync(IEnumerable<SwitchRecord> switches, CancellationToken ct) =>
        StateFile.WriteAsync(FilePath, new SwitchStoreDocument { Switches = switches.OrderBy(s => s.CreatedAt).ToList() }, ct);
}
