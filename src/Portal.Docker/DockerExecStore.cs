using System.Collections.Concurrent;
using System.Security.Cryptography;
using Portal.Compute.Audit;

namespace Portal.Docker;

/// <summary>
/// Exec instances in memory (dockerd keeps them in memory too). An instance belongs to the team whose caller made it
/// (<see cref="AuditCaller.Current"/>; none: the administrators): a team caller finds only its team's instances, by id
/// or prefix, so another team's exec ids, commands and containers never show, and its instances count against its own
/// cap, so one team cannot fill the store for everyone. Finished instances, and ones never started, are dropped after
/// a while.
/// </summary>
public sealed class DockerExecStore
{
    /// <summary>Open instances per owner (a team, or the administrators).</summary>
    public const int MaxExecs = 2000;

    private static readonly TimeSpan FinishedKeep = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, DockerExec> _execs = new(StringComparer.Ordinal);

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public void Add(DockerExec exec)
    {
        ArgumentNullException.ThrowIfNull(exec);
        exec.Team = AuditCaller.Current?.Team;
        Prune();
        if (_execs.Values.Count(e => e.Team == exec.Team) >= MaxExecs)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"Too many exec instances ({MaxExecs}) are open; let some finish first.");
        }

        _execs[exec.Id] = exec;
    }

    /// <summary>The caller's exec instance by id or unique id prefix; another team's answers as a missing one.</summary>
    public DockerExec Get(string id)
    {
        var team = AuditCaller.Current?.Team;
        bool Visible(DockerExec e) => team is null || e.Team == team;
        if (_execs.TryGetValue(id, out var exec) && Visible(exec))
        {
            return exec;
        }

        var byPrefix = id.Length >= 4 ? _execs.Values.Where(e => Visible(e) && e.Id.StartsWith(id, StringComparison.OrdinalIgnoreCase)).Take(2).ToList() : [];
        return byPrefix.Count == 1
            ? byPrefix[0]
            : throw new DockerApiException(StatusCodes.Status404NotFound, $"No such exec instance: {id}");
    }

    private void Prune()
    {
        var now = DateTimeOffset.UtcNow;
        // An instance never started holds nothing but its place: it goes as a finished one does.
        foreach (var exec in _execs.Values.Where(e => (e.ExitCode is not null || !e.Started) && now - e.CreatedAt > FinishedKeep))
        {
            _execs.TryRemove(exec.Id, out _);
        }
    }
}
