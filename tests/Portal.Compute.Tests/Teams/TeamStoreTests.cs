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

    [Fact]
    public async Task A_team_s_quota_and_policy_are_stored_and_kept_across_a_restart()
    {
        var store = new TeamStore(_root);
        await store.PutAsync(Team("blue") with
        {
            Quota = new TeamQuota { Containers = 3, VmContainers = 1, Cpus = 2, MemoryBytes = 1L << 30, Limits = new LimitRange { DefaultCpus = 0.5, MaxCpus = 1 } },
            Policy = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV], DefaultRuntimeType = RuntimeType.HyperV, Mode = PolicyMode.Warn },
        });

        var blue = new TeamStore(_root).Get("blue");
        Assert.Equal((3, 1, 2.0, 1L << 30, 0.5, 1.0), (blue.Quota.Containers, blue.Quota.VmContainers, blue.Quota.Cpus, blue.Quota.MemoryBytes, blue.Quota.Limits.DefaultCpus, blue.Quota.Limits.MaxCpus));
        Assert.Equal([RuntimeType.HyperV], blue.Policy.AllowedRuntimeTypes);
        Assert.Equal((RuntimeType.HyperV, PolicyMode.Warn, false), (blue.Policy.DefaultRuntimeType, blue.Policy.Mode, blue.Policy.AllowPrivileged));
    }

    public static TheoryData<TeamQuota, string> BadQuotas => new()
    {
        { new TeamQuota { Containers = -1 }, "quota.containers is -1: send 0 or more" },
        { new TeamQuota { MemoryBytes = -5 }, "quota.memoryBytes is -5" },
        { new TeamQuota { Cpus = double.NaN }, "quota.cpus is NaN" },
        { new TeamQuota { Limits = new LimitRange { DefaultCpus = 0 } }, "quota.limits.defaultCpus is 0: send a number above 0" },
        { new TeamQuota { Limits = new LimitRange { DefaultCpus = 2, MaxCpus = 1 } }, "quota.limits.defaultCpus (2) is above quota.limits.maxCpus (1)" },
        { new TeamQuota { Limits = new LimitRange { DefaultMemoryBytes = 512L << 20, MaxMemoryBytes = 256L << 20 } }, "is above quota.limits.maxMemoryBytes" },
        { new TeamQuota { Limits = new LimitRange { MaxMemoryBytes = 1024 } }, "a container needs at least 6291456 bytes" },
        { new TeamQuota { Cpus = 1, Limits = new LimitRange { DefaultCpus = 2 } }, "no container given the default would fit" },
        { new TeamQuota { Containers = 2, VmContainers = 3 }, "quota.vmContainers (3) is above quota.containers (2)" },
    };

    [Theory]
    [MemberData(nameof(BadQuotas))]
    public async Task A_bad_quota_is_refused_saying_what_was_wrong_and_what_to_send(TeamQuota quota, string says)
    {
        var store = new TeamStore(_root);
        var e = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue") with { Quota = quota }));
        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.StartsWith("Team 'blue': ", e.Message, StringComparison.Ordinal);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
    }

    [Fact]
    public async Task A_bad_policy_is_refused_saying_what_was_wrong_and_what_to_send()
    {
        var store = new TeamStore(_root);
        var notAllowed = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue") with
        {
            Policy = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV], DefaultRuntimeType = RuntimeType.Default },
        }));
        Assert.Contains("policy.defaultRuntimeType is Default, which policy.allowedRuntimeTypes (HyperV) does not allow", notAllowed.Message, StringComparison.Ordinal);
        var twice = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue") with { Policy = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV, RuntimeType.HyperV] } }));
        Assert.Contains("names a runtime type twice", twice.Message, StringComparison.Ordinal);
        var mode = await Assert.ThrowsAsync<ComputeException>(() => store.PutAsync(Team("blue") with { Policy = new IsolationPolicy { Mode = (PolicyMode)9 } }));
        Assert.Contains("use Enforce, Warn or Audit", mode.Message, StringComparison.Ordinal);
        Assert.Empty(store.List());
    }
}
