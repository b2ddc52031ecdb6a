using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Docker.Tests;

/// <summary>
/// Exec instances (docker exec's two steps, create then start, and exec inspect) as team callers over TLS see them: a
/// team finds only its own, by id or by a 4-character prefix, so another team's exec ids, commands and containers never
/// show and cannot be started, resized or inspected; each owner has its own cap, and instances never started do not
/// stay forever. Unit tier.
/// </summary>
public sealed class DockerExecStoreTests : IDisposable
{
    private readonly DockerExecStore _store = new();

    public void Dispose() => AuditCaller.Current = null;

    private static void ActAs(string? team) => AuditCaller.Current = team is null
        ? null
        : new AuditCaller { Actor = new AuditActor { Kind = AuditActorKind.ClientCertificate, Name = "ann" }, EntryPoint = AuditEntryPoint.DockerTls, Team = team, User = "ann", Role = TeamRole.Member };

    private static DockerExec Exec(string id, DateTimeOffset? created = null) => new()
    {
        Id = id,
        ContainerId = "c0ffee",
        CreatedAt = created ?? DateTimeOffset.UtcNow,
        AttachStdout = true,
        AttachStderr = true,
        Spec = new ProcessSpec { Command = ["sh", "-c", "echo $SECRET"] },
    };

    [Fact]
    public void Another_team_s_exec_is_not_found_by_id_or_prefix_while_its_own_team_and_the_administrators_find_it()
    {
        ActAs("team-b");
        var theirs = Exec("abcd" + new string('1', 60));
        _store.Add(theirs);
        Assert.Equal("team-b", theirs.Team);

        ActAs("team-a");
        foreach (var reference in new[] { theirs.Id, "abcd", theirs.Id[..12] })
        {
            var missing = Assert.Throws<DockerApiException>(() => _store.Get(reference));
            Assert.Equal((404, $"No such exec instance: {reference}"), (missing.StatusCode, missing.Message));
        }

        // Its own exec with the same prefix is found by it: the other team's does not make the prefix ambiguous.
        var mine = Exec("abcd" + new string('2', 60));
        _store.Add(mine);
        Assert.Same(mine, _store.Get("abcd"));

        ActAs("team-b");
        Assert.Same(theirs, _store.Get(theirs.Id[..12]));
        ActAs(null);
        Assert.Same(theirs, _store.Get(theirs.Id));
        Assert.Null(Exec("x").Team);
    }

    [Fact]
    public void Each_owner_has_its_own_cap_and_instances_never_started_are_dropped_after_a_while()
    {
        ActAs("team-a");
        var old = DateTimeOffset.UtcNow.AddHours(-1);
        for (var i = 0; i < DockerExecStore.MaxExecs; i++)
        {
            _store.Add(Exec($"a{i:x63}"));
        }

        var full = Assert.Throws<DockerApiException>(() => _store.Add(Exec("a-over")));
        Assert.Equal(409, full.StatusCode);

        // Team A's instances leave room for everyone else.
        ActAs("team-b");
        _store.Add(Exec("b-one"));
        ActAs(null);
        _store.Add(Exec("admin-one"));

        // Created and never started, an hour ago: they no longer hold their places.
        var store = new DockerExecStore();
        ActAs("team-a");
        for (var i = 0; i < DockerExecStore.MaxExecs; i++)
        {
            store.Add(Exec($"a{i:x63}", old));
        }

        store.Add(Exec("a-new"));
        Assert.Throws<DockerApiException>(() => store.Get($"a{0:x63}"));
    }
}
