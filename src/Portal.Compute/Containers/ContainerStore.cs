using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Portal.Compute.Storage;

namespace Portal.Compute.Containers;

/// <summary>
/// The container records (containerd's container store): names, lookup by name, id or id prefix, and persistence
/// (container.json in each container's directory, written atomically). Nothing here runs a container: running
/// containers are <see cref="ContainerRuns"/>'.
/// </summary>
public sealed class ContainerStore
{
    private const string RecordFileName = "container.json";

    private readonly ConcurrentDictionary<string, ContainerRecord> _records = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reservations = new(1, 1);

    public ContainerStore(string root)
    {
        Root = root;
    }

    /// <summary>&lt;StateRoot&gt;/containers: one directory per container.</summary>
    public string Root { get; }

    public string DirectoryOf(string id) => Path.Combine(Root, id);

    /// <summary>The writable scratch disk, the same file whatever the runtime.</summary>
    public string ScratchPath(string id) => Path.Combine(DirectoryOf(id), "scratch.ext4");

    /// <summary>The container's output (k8s-file format), the same file whatever the runtime.</summary>
    public string LogPath(string id) => Path.Combine(DirectoryOf(id), "container.log");

    /// <summary>Every record, oldest first.</summary>
    public IReadOnlyList<ContainerRecord> List() => _records.Values.OrderBy(r => r.CreatedAt).ToList();

    /// <summary>The current record of a container by id (null once removed).</summary>
    public ContainerRecord? Get(string id) => _records.GetValueOrDefault(id);

    /// <summary>A container by exact id, exact name, or unique id prefix; a clear error otherwise.</summary>
    public ContainerRecord Find(string idOrName)
    {
        if (string.IsNullOrWhiteSpace(idOrName))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No container given: name a container by its name or id.");
        }

        var key = idOrName.TrimStart('/');
        if (_records.TryGetValue(key, out var exact))
        {
            return exact;
        }

        var byName = _records.Values.FirstOrDefault(r => string.Equals(r.Name, key, StringComparison.Ordinal));
        if (byName is not null)
        {
            return byName;
        }

        var byPrefix = _records.Values.Where(r => r.Id.StartsWith(key, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
        return byPrefix.Count switch
        {
            1 => byPrefix[0],
            0 => throw new ComputeException(ComputeErrorCode.ContainerNotFound, $"No such container: '{idOrName}'. List containers to see their names and ids."),
            _ => throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{idOrName}' matches more than one container id; give more of the id."),
        };
    }

    public bool NameTaken(string name) => _records.Values.Any(r => string.Equals(r.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// Runs <paramref name="reserve"/> alone among reservations (new names, switch addresses and ports, switch removals),
    /// so that two of them never see the same free name or address.
    /// </summary>
    public async Task<T> ReserveAsync<T>(Func<T> reserve, CancellationToken ct)
    {
        await _reservations.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return reserve();
        }
        finally
        {
            _reservations.Release();
        }
    }

    /// <summary>Takes a new record (under <see cref="ReserveAsync{T}"/>): its name and addresses count as used from now on.</summary>
    public void Add(ContainerRecord record)
    {
        if (!_records.TryAdd(record.Id, record))
        {
            throw new ComputeException(ComputeErrorCode.NameInUse, $"A container with id {record.Id} exists already.");
        }
    }

    /// <summary>Writes the record atomically, then makes it the current one; a removed container's is not written again.</summary>
    public async Task SaveAsync(ContainerRecord record, CancellationToken ct)
    {
        if (!_records.ContainsKey(record.Id))
        {
            return;
        }

        await StateFile.WriteAsync(Path.Combine(DirectoryOf(record.Id), RecordFileName), record, ct).ConfigureAwait(false);
        _records[record.Id] = record;
    }

    /// <summary>Forgets a container and deletes its directory (its disks, log and record).</summary>
    public void Delete(string id)
    {
        _records.TryRemove(id, out _);
        if (Directory.Exists(DirectoryOf(id)))
        {
            Directory.Delete(DirectoryOf(id), recursive: true);
        }
    }

    /// <summary>Loads every persisted record; removes temp files and directories a crash left half made.</summary>
    public IReadOnlyList<ContainerRecord> Load(ILogger logger)
    {
        Directory.CreateDirectory(Root);
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            foreach (var temp in Directory.EnumerateFiles(dir, "*.tmp"))
            {
                File.Delete(temp);
            }

            ContainerRecord? record;
            try
            {
                record = StateFile.Read<ContainerRecord>(Path.Combine(dir, RecordFileName));
            }
            catch (JsonException e)
            {
                logger.LogWarning(e, "Unreadable container record in {Directory}", dir);
                record = null;
            }

            if (record is null || record.Id != Path.GetFileName(dir) || !File.Exists(ScratchPath(record.Id)))
            {
                logger.LogWarning("Removing half-made container directory {Directory}", dir);
                Directory.Delete(dir, recursive: true);
                continue;
            }

            _records[record.Id] = record;
        }

        return List();
    }
}
