using System.Text.RegularExpressions;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Compute.Teams;

/// <summary>
/// The teams this agent enforces: names and members with their roles, in one file under the state root written
/// atomically (<see cref="StateFile"/>). The portal pushes them with an administrator key; the agent keeps its copy and
/// enforces it when the portal is away.
/// </summary>
public sealed partial class TeamStore
{
    public const int MaxUserLength = 200;

    private readonly string _path;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private IReadOnlyList<TeamInfo> _teams;

    public TeamStore(string stateRoot)
    {
        _path = Path.Combine(stateRoot, "agent", "teams.json");
        _teams = StateFile.Read<List<TeamInfo>>(_path) ?? [];
    }

    public IReadOnlyList<TeamInfo> List() => _teams;

    public TeamInfo? Find(string name) => _teams.FirstOrDefault(t => t.Name == name);

    public TeamInfo Get(string name) => Find(name)
        ?? throw new ComputeException(ComputeErrorCode.TeamNotFound, $"No team '{name}' on this agent. List the teams (GET /api/teams) or create it (PUT /api/teams/{{name}}).");

    /// <summary>The user's role in the team; null when the team or the membership does not exist.</summary>
    public TeamRole? RoleOf(string team, string user) => Find(team)?.Members.FirstOrDefault(m => m.User == user)?.Role;

    /// <summary>Creates the team or replaces it whole (its members); returns it as stored.</summary>
    public async Task<TeamInfo> PutAsync(TeamInfo team, CancellationToken ct = default)
    {
        var valid = Validate(team);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var teams = _teams.Where(t => t.Name != valid.Name).Append(valid).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
            await StateFile.WriteAsync(_path, teams, ct).ConfigureAwait(false);
            _teams = teams;
            return valid;
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<TeamInfo> RemoveAsync(string name, CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var team = Get(name);
            var teams = _teams.Where(t => t.Name != name).ToList();
            await StateFile.WriteAsync(_path, teams, ct).ConfigureAwait(false);
            _teams = teams;
            return team;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Checks a team name: what is wrong and what to send instead.</summary>
    public static string ValidateName(string? name)
    {
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument,
                $"Team name '{name}' is not valid: use 1 to 63 characters, lower-case letters, digits, '-', '_' or '.', starting with a letter or digit.");
        }

        return name;
    }

    /// <summary>The team as it will be stored, or InvalidArgument naming what is wrong.</summary>
    public static TeamInfo Validate(TeamInfo? team)
    {
        if (team is null)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Send a team: {\"name\": \"...\", \"members\": [{\"user\": \"...\", \"role\": \"Owner|Member|Operator|Viewer\"}]}.");
        }

        ValidateName(team.Name);
        var members = team.Members ?? [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in members)
        {
            if (member is null || string.IsNullOrWhiteSpace(member.User) || member.User.Length > MaxUserLength || member.User.Trim() != member.User)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument,
                    $"Team '{team.Name}': every member needs a user name of 1 to {MaxUserLength} characters without leading or trailing spaces.");
            }

            if (!Enum.IsDefined(member.Role))
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Team '{team.Name}': user '{member.User}' has no valid role: use Owner, Member, Operator or Viewer.");
            }

            if (!seen.Add(member.User))
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Team '{team.Name}': user '{member.User}' is listed twice; give each user one role.");
            }
        }

        return new TeamInfo { Name = team.Name, Members = members.ToList() };
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex NamePattern();
}
