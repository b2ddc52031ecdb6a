using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Compute.Tests.Teams;

/// <summary>The agent's copy of the teams: validated, replaced whole, kept across restarts in a file written atomically. Unit tier.</summary>
public sealed class TeamStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-teams-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static TeamInfo Team(string name, params (string User, TeamRole Role)[] members) =>
        new() { Name = name, Members = members.Select(m => new TeamMember { User = m.User, Role = m.Role }).ToList() };

    [Fact]
    public async Task A_team_is_stored_replaced_whole_removed_and_kept_across_a_restart()
    {
        var store = new TeamStore(_root);
        await store.PutAsync(Team("blue", ("ann", TeamRole.Owner), ("bob", TeamRole.Viewer)));
        await store.PutAsync(Team("alpha", ("cy", TeamRole.Member)));
        await store.PutAsync(Team("blue", ("ann", TeamRole.Owner), ("bob", TeamRole.Operator)));

        var reopened = new TeamStore(_root);
        Assert.Equal(["alpha", "blue"], reopened.List().Select(t => t.Name));
        Assert.Equal(TeamRole.Operator, reopened.RoleOf("blue", "bob"));
        Assert.Null(reopened.RoleOf("blue", "cy"));
        Assert.Null(reopened.RoleOf("green", "ann"));
        Assert.False(File.Exists(Path.Combine(_root, "agent", "teams.json.tmp")));

        await reopened.RemoveAsync("alpha");
        Assert.Equal(["blue"], new TeamStore(_root).List().Select(t => t.Name));
        var missing = await Assert.ThrowsAsync<ComputeException>(() => reopened.RemoveAsync("alpha"));
        Assert.Equal(ComputeErrorCode.TeamNotFound, missing.Code);
    }

    [Theory]
    [InlineData("", "not valid")]
    [InlineData("Blue", "lower-case")]
    [InlineData("-blue", "starting with a letter or digit")]
    [InlineData("blue team", "not valid")]
    public async Task A_bad_name_is_refused_saying_what_a_name_may_be(string name, string says)
    {
        var store = new TeamStore(_root);
        var e = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team(name)));
        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
    }

    [Fact]
    public async Task Bad_members_are_refused_naming_the_team_and_the_member()
    {
        var store = new TeamStore(_root);
        var twice = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue", ("ann", TeamRole.Owner), ("ann", TeamRole.Viewer))));
        Assert.Contains("'ann' is listed twice", twice.Message, StringComparison.Ordinal);
        var role = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue", ("ann", (TeamRole)42))));
        Assert.Contains("use Owner, Member, Operator or Viewer", role.Message, StringComparison.Ordinal);
        var blank = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue", (" ", TeamRole.Viewer))));
        Assert.Contains("user name of 1 to", blank.Message, StringComparison.Ordinal);
        Assert.Empty(new TeamStore(_root).List());
    }
}
