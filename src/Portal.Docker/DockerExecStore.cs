using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Portal.Docker;

/// <summary>Exec instances in memory (dockerd keeps them in memory too); finished ones are dropped after a while.</summary>
public sealed class DockerExecStore
{
    private const int MaxExecs = 2000;
    private static readonly TimeSpan FinishedKeep = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, DockerExec> _execs = new(StringComparer.Ordinal);

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public void Add(DockerExec exec)
    {
        Prune();
        if (_execs.Count >= MaxExecs)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"Too many exec instances ({MaxExecs}) are open; let some finish first.");
        }

        _execs[exec.Id] = exec;
    }

    public DockerExec Get(string id)
    {
        if (_execs.TryGetValue(id, out var exec))
        {
            return exec;
        }

        var byPrefix = id.Length >= 4 ? _execs.Values.Where(e => e.Id.StartsWith(id, StringComparison.OrdinalIgnoreCase)).Take(2).ToList() : [];
        return byPrefix.Count == 1
            ? byPrefix[0]
            : throw new DockerApiException(StatusCodes.Status404NotFound, $"No such exec instance: {id}");
    }

    private void Prune()
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var exec in _execs.Values.Where(e => e.ExitCode is not null && now - e.CreatedAt > FinishedKeep))
        {
            _execs.TryRemove(exec.Id, out _);
        }
    }
}
