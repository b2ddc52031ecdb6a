using Portal.Compute.Teams;
using Portal.Contracts;

namespace Portal.Compute.Tests.Teams;

/// <summary>The roles table, whole: each role against each action. Unit tier.</summary>
public sealed class TeamRulesTests
{
    public static TheoryData<TeamRole, TeamAction, bool> Table()
    {
        var data = new TheoryData<TeamRole, TeamAction, bool>();
        var allowed = new Dictionary<TeamRole, TeamAction[]>
        {
            [TeamRole.Viewer] = [TeamAction.Read, TeamAction.Logs],
            [TeamRole.Operator] = [TeamAction.Read, TeamAction.Logs, TeamAction.Operate, TeamAction.Terminal],
            [TeamRole.Member] = [TeamAction.Read, TeamAction.Logs, TeamAction.Operate, TeamAction.Terminal, TeamAction.Create, TeamAction.Convert, TeamAction.Remove, TeamAction.ManageSwitches, TeamAction.ManageImages],
            [TeamRole.Owner] = [TeamAction.Read, TeamAction.Logs, TeamAction.Operate, TeamAction.Terminal, TeamAction.Create, TeamAction.Convert, TeamAction.Remove, TeamAction.ManageSwitches, TeamAction.ManageImages, TeamAction.ManageMembers],
        };
        foreach (var role in Enum.GetValues<TeamRole>())
        {
            foreach (var action in Enum.GetValues<TeamAction>())
            {
                data.Add(role, action, allowed[role].Contains(action));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_role_may_do_exactly_what_the_table_says(TeamRole role, TeamAction action, bool allowed)
    {
        Assert.Equal(allowed, TeamRules.Allows(role, action));
        var refusal = TeamRules.Refusal("blue", role, action, "container.x");
        Assert.Equal(allowed, refusal is null);
        if (refusal is not null)
        {
            Assert.Contains($"Your role in team 'blue' is {role}", refusal, StringComparison.Ordinal);
            Assert.Contains(TeamRules.Describe(role), refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_refusal_names_the_role_the_action_needs()
    {
        Assert.EndsWith("container.create needs the Member role or above.", TeamRules.Refusal("blue", TeamRole.Viewer, TeamAction.Create, "container.create"), StringComparison.Ordinal);
        Assert.EndsWith("host.processes is for administrators only.", TeamRules.Refusal("blue", TeamRole.Owner, TeamAction.ManageHost, "host.processes"), StringComparison.Ordinal);
        Assert.Null(TeamRules.Refusal("blue", TeamRole.Member, TeamAction.ManageSwitches, "switch.create"));
        Assert.EndsWith("image.import needs the Member role or above.", TeamRules.Refusal("blue", TeamRole.Operator, TeamAction.ManageImages, "image.import"), StringComparison.Ordinal);
    }
}
