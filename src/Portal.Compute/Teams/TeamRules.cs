using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>What a team caller asks to do to one of its team's containers (or the team itself).</summary>
public enum TeamAction
{
    Read,
    Logs,
    Operate,
    Terminal,
    Create,
    Convert,
    Remove,
    ManageMembers,

    /// <summary>Host-wide resources (switches, images): administrators only until they have owners.</summary>
    ManageHost,
}

/// <summary>The role decision, one table: a role may do what its own and the narrower roles may.</summary>
public static class TeamRules
{
    /// <summary>The rule name of a role refusal in the audit trail.</summary>
    public const string RoleRule = "team-role";

    /// <summary>The rule name of a quota or LimitRange refusal; the quota's name is in the entry's details ("quota").</summary>
    public const string QuotaRule = "team-quota";

    /// <summary>The rule name of a runtime type the team's isolation policy does not allow (denied, or warned in Warn and Audit modes).</summary>
    public const string IsolationPolicyRule = "team-isolation-policy";

    /// <summary>The rule name of a privileged option (added capabilities, loosened security) for a team whose policy does not allow them.</summary>
    public const string PrivilegedRule = "team-privileged";

    /// <summary>The label that carries a container's owning team in its record; absent for the administrators' containers.</summary>
    public const string OwnerLabel = "io.portal.team";

    /// <summary>The narrowest role allowed the action; null when no team role is (administrators only).</summary>
    public static TeamRole? Needs(TeamAction action) => action switch
    {
        TeamAction.Read or TeamAction.Logs => TeamRole.Viewer,
        TeamAction.Operate or TeamAction.Terminal => TeamRole.Operator,
        TeamAction.Create or TeamAction.Convert or TeamAction.Remove => TeamRole.Member,
        TeamAction.ManageMembers => TeamRole.Owner,
        _ => null,
    };

    public static bool Allows(TeamRole role, TeamAction action) => Needs(action) is { } needs && role >= needs;

    /// <summary>What a role may do, for refusals.</summary>
    public static string Describe(TeamRole role) => role switch
    {
        TeamRole.Viewer => "read the team's containers and their logs",
        TeamRole.Operator => "read the team's containers and their logs, start, stop, restart and kill them and open terminals (exec, attach)",
        TeamRole.Member => "everything an Operator may, and create, convert and remove the team's containers",
        _ => "everything a Member may, and manage the team's membership",
    };

    /// <summary>Null when allowed; else the refusal naming the role, what it may do and what the action needs.</summary>
    public static string? Refusal(string team, TeamRole role, TeamAction action, string what)
    {
        if (Allows(role, action))
        {
            return null;
        }

        var needs = Needs(action) is { } n ? $"{what} needs the {n} role or above" : $"{what} is for administrators only";
        return $"Your role in team '{team}' is {role}, which may {Describe(role)}; {needs}.";
    }
}
