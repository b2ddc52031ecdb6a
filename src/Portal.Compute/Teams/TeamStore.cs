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
        // A file from before quotas and policies (or edited by hand to null) reads as unlimited and unrestricted.
        _teams = (StateFile.Read<List<TeamInfo>>(_path) ?? [])
            .Select(t => t with { Quota = t.Quota ?? new TeamQuota(), Policy = t.Policy ?? new IsolationPolicy() })
            .ToList();
    }

    /// <summary>Raised after a team was put or removed (outside the store's lock); <see cref="TeamSessions"/> ends what no longer holds.</summary>
    public event Action? Changed;

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
        }
        finally
        {
            _lock.Release();
        }

        Changed?.Invoke();
        return valid;
    }

    public async Task<TeamInfo> RemoveAsync(string name, CancellationToken ct = default)
    {
        TeamInfo team;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            team = Get(name);
            var teams = _teams.Where(t => t.Name != name).ToList();
            await StateFile.WriteAsync(_path, teams, ct).ConfigureAwait(false);
            _teams = teams;
        }
        finally
        {
            _lock.Release();
        }

        Changed?.Invoke();
        return team;
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

        return new TeamInfo
        {
            Name = team.Name,
            Members = members.ToList(),
            Quota = ValidateQuota(team.Name, team.Quota ?? new TeamQuota()),
            Policy = ValidatePolicy(team.Name, team.Policy ?? new IsolationPolicy()),
        };
    }

    /// <summary>The quota as stored (a null LimitRange is an empty one), or InvalidArgument naming what is wrong and what to send.</summary>
    public static TeamQuota ValidateQuota(string team, TeamQuota quota)
    {
        var limits = quota.Limits ?? new LimitRange();
        NotNegative(team, "quota.containers", quota.Containers);
        NotNegative(team, "quota.vmContainers", quota.VmContainers);
        NotNegative(team, "quota.memoryBytes", quota.MemoryBytes);
        NotNegative(team, "quota.cpus", quota.Cpus);
        Positive(team, "quota.limits.defaultCpus", limits.DefaultCpus);
        Positive(team, "quota.limits.maxCpus", limits.MaxCpus);
        Positive(team, "quota.limits.defaultMemoryBytes", limits.DefaultMemoryBytes);
        Positive(team, "quota.limits.maxMemoryBytes", limits.MaxMemoryBytes);
        foreach (var (name, value) in new[] { ("quota.limits.defaultMemoryBytes", limits.DefaultMemoryBytes), ("quota.limits.maxMemoryBytes", limits.MaxMemoryBytes) })
        {
            if (value is < MinimumMemoryBytes)
            {
                throw Invalid(team, $"{name} is {value} bytes; a container needs at least {MinimumMemoryBytes} bytes (6 MiB): send at least that, or leave it out.");
            }
        }

        if (limits is { DefaultCpus: { } defaultCpus, MaxCpus: { } maxCpus } && defaultCpus > maxCpus)
        {
            throw Invalid(team, $"quota.limits.defaultCpus ({defaultCpus}) is above quota.limits.maxCpus ({maxCpus}): a container given the default would be refused. Send a default of at most the maximum.");
        }

        if (limits is { DefaultMemoryBytes: { } defaultMemory, MaxMemoryBytes: { } maxMemory } && defaultMemory > maxMemory)
        {
            throw Invalid(team, $"quota.limits.defaultMemoryBytes ({defaultMemory}) is above quota.limits.maxMemoryBytes ({maxMemory}): a container given the default would be refused. Send a default of at most the maximum.");
        }

        if (limits.DefaultCpus is { } cpus && quota.Cpus is { } totalCpus && cpus > totalCpus)
        {
            throw Invalid(team, $"quota.limits.defaultCpus ({cpus}) is above quota.cpus ({totalCpus}): no container given the default would fit. Send a default of at most the team's CPU quota.");
        }

        if (limits.DefaultMemoryBytes is { } memory && quota.MemoryBytes is { } totalMemory && memory > totalMemory)
        {
            throw Invalid(team, $"quota.limits.defaultMemoryBytes ({memory}) is above quota.memoryBytes ({totalMemory}): no container given the default would fit. Send a default of at most the team's memory quota.");
        }

        if (quota is { VmContainers: { } vms, Containers: { } all } && vms > all)
        {
            throw Invalid(team, $"quota.vmContainers ({vms}) is above quota.containers ({all}): VM-isolated containers count as containers too. Send at most {all}, or raise quota.containers.");
        }

        return quota with { Limits = limits };
    }

    /// <summary>The policy as stored, or InvalidArgument naming what is wrong and what to send.</summary>
    public static IsolationPolicy ValidatePolicy(string team, IsolationPolicy policy)
    {
        var allowed = policy.AllowedRuntimeTypes ?? [];
        if (allowed.Any(t => !Enum.IsDefined(t)))
        {
            throw Invalid(team, "policy.allowedRuntimeTypes holds an unknown runtime type: use Default (process isolation) and/or HyperV (VM isolation), or an empty list for both.");
        }

        if (allowed.Distinct().Count() != allowed.Count)
        {
            throw Invalid(team, "policy.allowedRuntimeTypes names a runtime type twice: name each once.");
        }

        if (policy.DefaultRuntimeType is { } defaultType)
        {
            if (!Enum.IsDefined(defaultType))
            {
                throw Invalid(team, "policy.defaultRuntimeType is not a runtime type: use Default or HyperV, or leave it out for the host's default.");
            }

            if (allowed.Count > 0 && !allowed.Contains(defaultType))
            {
                throw Invalid(team, $"policy.defaultRuntimeType is {defaultType}, which policy.allowedRuntimeTypes ({string.Join(", ", allowed)}) does not allow: send one of those as the default, or allow {defaultType}.");
            }
        }

        if (!Enum.IsDefined(policy.Mode))
        {
            throw Invalid(team, "policy.mode is not a mode: use Enforce, Warn or Audit.");
        }

        return policy with { AllowedRuntimeTypes = allowed.ToList() };
    }

    /// <summary>The smallest memory limit a container may have (the container service's own rule).</summary>
    private const long MinimumMemoryBytes = 6L << 20;

    private static void NotNegative(string team, string name, double? value)
    {
        if (value is { } v && (v < 0 || !double.IsFinite(v)))
        {
            throw Invalid(team, $"{name} is {v}: send 0 or more (0 allows none), or leave it out (null) for no limit.");
        }
    }

    private static void Positive(string team, string name, double? value)
    {
        if (value is { } v && (v <= 0 || !double.IsFinite(v)))
        {
            throw Invalid(team, $"{name} is {v}: send a number above 0, or leave it out (null) for none.");
        }
    }

    private static ComputeException Invalid(string team, string what) => new(ComputeErrorCode.InvalidArgument, $"Team '{team}': {what}");

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex NamePattern();
}
