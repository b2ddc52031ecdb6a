using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Compute.Tests.Teams;

/// <summary>
/// What runs for team callers ends when the membership it was admitted with changes: the team removed, the user gone or
/// given another role; a change to someone else, or to the quota, ends nothing, and a team key lives as long as its
/// team. Unit tier.
/// </summary>
public sealed class TeamSessionsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-team-sessions-").FullName;
    private readonly TeamStore _teams;
    private readonly TeamSessions _sessions;

    public TeamSessionsTests()
    {
        _teams = new TeamStore(_root);
        _sessions = new TeamSessions(_teams);
    }

    public void Dispose()
    {
        _sessions.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private Task PutAsync(string team, params (string User, TeamRole Role)[] members) =>
        _teams.PutAsync(new TeamInfo { Name = team, Members = members.Select(m => new TeamMember { User = m.User, Role = m.Role }).ToList() });

    private static AuditCaller Caller(string team, string? user, TeamRole role) => new()
    {
        Actor = new AuditActor { Kind = AuditActorKind.ApiKey, Name = "key" },
        EntryPoint = AuditEntryPoint.Hub,
        Team = team,
        User = user,
        Role = role,
    };

    private sealed class Aborts
    {
        public int Count { get; private set; }

        public void Abort() => Count++;
    }

    [Fact]
    public async Task A_member_s_sessions_end_when_the_role_changes_or_the_member_leaves_and_not_for_changes_to_others()
    {
        await PutAsync("blue", ("mia", TeamRole.Member), ("vic", TeamRole.Viewer));
        var mia = new Aborts();
        var vic = new Aborts();
        var done = new Aborts();
        using var miaSession = _sessions.Track(Caller("blue", "mia", TeamRole.Member), mia.Abort);
        using var vicSession = _sessions.Track(Caller("blue", "vic", TeamRole.Viewer), vic.Abort);
        _sessions.Track(Caller("blue", "mia", TeamRole.Member), done.Abort).Dispose();

        await PutAsync("blue", ("mia", TeamRole.Member), ("vic", TeamRole.Viewer), ("new", TeamRole.Owner));
        await _teams.PutAsync(_teams.Get("blue") with { Quota = new TeamQuota { Containers = 1 } });
        Assert.Equal((0, 0), (mia.Count, vic.Count));

        // Demoted: what runs as a Member ends, once; the Viewer beside her runs on.
        await PutAsync("blue", ("mia", TeamRole.Viewer), ("vic", TeamRole.Viewer));
        await PutAsync("blue", ("vic", TeamRole.Viewer));
        Assert.Equal((1, 0), (mia.Count, vic.Count));

        await PutAsync("blue", ("mia", TeamRole.Member));
        Assert.Equal((1, 1, 0), (mia.Count, vic.Count, done.Count));
    }

    [Fact]
    public async Task A_team_key_s_sessions_end_with_its_team_and_a_caller_already_out_of_date_is_ended_at_once()
    {
        await PutAsync("red", ("rob", TeamRole.Member));
        await PutAsync("blue", ("ann", TeamRole.Owner));
        var key = new Aborts();
        var other = new Aborts();
        using var keySession = _sessions.Track(Caller("red", null, TeamRole.Member), key.Abort);
        using var otherSession = _sessions.Track(Caller("blue", null, TeamRole.Viewer), other.Abort);

        // A team key's role is its own: membership changes do not touch it.
        await PutAsync("red", ("rob", TeamRole.Viewer));
        Assert.Equal(0, key.Count);
        await _teams.RemoveAsync("red");
        Assert.Equal((1, 0), (key.Count, other.Count));

        var late = new Aborts();
        using var lateSession = _sessions.Track(Caller("red", null, TeamRole.Member), late.Abort);
        Assert.Equal(1, late.Count);
        var admin = new Aborts();
        using var adminSession = _sessions.Track(AuditCaller.Agent("test", AuditEntryPoint.Rest), admin.Abort);
        await PutAsync("blue");
        Assert.Equal((0, 0), (admin.Count, other.Count));
    }
}
