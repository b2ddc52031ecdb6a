using System.Security.Claims;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;

namespace Portal.Web.Teams;

/// <summary>
/// The portal's teams (its database is the source the agents get them from): administrators create and delete teams,
/// set members and roles, quotas and policies; a team's owners manage its membership. Every change raises
/// <see cref="Changed"/>, on which <see cref="TeamSync"/> pushes the team to every host. Bad input and refused changes
/// throw <see cref="ArgumentException"/> or <see cref="UnauthorizedAccessException"/> with what to do instead.
/// </summary>
public sealed class TeamDirectory(IDbContextFactory<PortalDbContext> databases, TimeProvider time)
{
    /// <summary>Raised after a team changed (its name; <c>Deleted</c> when it is gone).</summary>
    public event Action<string, bool>? Changed;

    public async Task<IReadOnlyList<TeamInfo>> ListAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var records = await db.Teams.AsNoTracking().Include(t => t.Members).OrderBy(t => t.Name).ToListAsync(ct);
        return records.Select(ToInfo).ToList();
    }

    public async Task<TeamInfo?> GetAsync(string name, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var record = await db.Teams.AsNoTracking().Include(t => t.Members).FirstOrDefaultAsync(t => t.Name == name, ct);
        return record is null ? null : ToInfo(record);
    }

    /// <summary>
    /// The team as the hosts get it: without the members whose portal user is disabled, so nothing acts for them there
    /// (their docker certificates, the portal acting for them). The portal keeps their membership for when they are
    /// enabled again.
    /// </summary>
    public async Task<TeamInfo?> GetForHostsAsync(string name, CancellationToken ct)
    {
        if (await GetAsync(name, ct) is not { } team)
        {
            return null;
        }

        var disabled = await DisabledUserNamesAsync(ct);
        return disabled.Count == 0 ? team : team with { Members = team.Members.Where(m => !disabled.Contains(m.User)).ToList() };
    }

    /// <summary>The names of the disabled portal users (Identity's permanent lockout, <see cref="UserAccounts.DisableAsync"/>).</summary>
    public async Task<IReadOnlySet<string>> DisabledUserNamesAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        // Locked users are few; SQLite cannot compare DateTimeOffset in a query, so the date is checked here.
        var locked = await db.Users.AsNoTracking().Where(u => u.LockoutEnd != null).Select(u => new { u.UserName, u.LockoutEnd }).ToListAsync(ct);
        return locked.Where(u => UserAccounts.IsDisabled(u.LockoutEnd)).Select(u => u.UserName!).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The teams <paramref name="userName"/> belongs to, with the role in each, by team name.</summary>
    public async Task<IReadOnlyList<Membership>> MembershipsAsync(string userName, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.TeamMembers.AsNoTracking().Where(m => m.UserName == userName).OrderBy(m => m.TeamName)
            .Select(m => new Membership(m.TeamName, m.Role)).ToListAsync(ct);
    }

    /// <summary>The portal's users by name, for picking members.</summary>
    public async Task<IReadOnlyList<string>> UserNamesAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.Users.AsNoTracking().OrderBy(u => u.UserName).Select(u => u.UserName!).ToListAsync(ct);
    }

    public async Task<TeamInfo> CreateAsync(ClaimsPrincipal by, string name, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await RequireAdministratorAsync(db, by, "create teams", ct);
        name = TeamNames.Validate(name);
        if (await db.Teams.AnyAsync(t => t.Name == name, ct))
        {
            throw new ArgumentException($"There is already a team '{name}': pick another name.", nameof(name));
        }

        var record = new TeamRecord { Name = name, CreatedAt = time.GetUtcNow(), Quota = Json(new TeamQuota()), Policy = Json(new IsolationPolicy()) };
        db.Teams.Add(record);
        await db.SaveChangesAsync(ct);
        Changed?.Invoke(name, false);
        return ToInfo(record);
    }

    public async Task DeleteAsync(ClaimsPrincipal by, string name, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await RequireAdministratorAsync(db, by, "delete teams", ct);
        var record = await db.Teams.FirstOrDefaultAsync(t => t.Name == name, ct) ?? throw NoSuchTeam(name);
        db.Teams.Remove(record);
        await db.SaveChangesAsync(ct);
        await db.Users.Where(u => u.ActingTeam == name).ExecuteUpdateAsync(u => u.SetProperty(x => x.ActingTeam, (string?)null), ct);
        Changed?.Invoke(name, true);
    }

    /// <summary>Adds <paramref name="userName"/> (a portal user) to the team or changes its role; administrators and the team's owners.</summary>
    public async Task SetMemberAsync(ClaimsPrincipal by, string team, string userName, TeamRole role, CancellationToken ct)
    {
        userName = userName?.Trim() ?? "";
        await using var db = await databases.CreateDbContextAsync(ct);
        var record = await db.Teams.Include(t => t.Members).FirstOrDefaultAsync(t => t.Name == team, ct) ?? throw NoSuchTeam(team);
        var administrator = await RequireManagerAsync(db, by, record, ct);
        if (!await db.Users.AnyAsync(u => u.UserName == userName, ct))
        {
            throw new ArgumentException($"There is no portal user '{userName}': an administrator adds users (./deploy/portal add-user <user>).", nameof(userName));
        }

        if (!Enum.IsDefined(role))
        {
            throw new ArgumentException($"'{role}' is not a team role: use {string.Join(", ", Enum.GetNames<TeamRole>())}.", nameof(role));
        }

        var member = record.Members.FirstOrDefault(m => m.UserName == userName);
        if (member is null)
        {
            record.Members.Add(new TeamMemberRecord { TeamName = team, UserName = userName, Role = role });
        }
        else
        {
            RequireAnotherOwner(administrator, record, member, role);
            member.Role = role;
        }

        await db.SaveChangesAsync(ct);
        Changed?.Invoke(team, false);
    }

    public async Task RemoveMemberAsync(ClaimsPrincipal by, string team, string userName, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var record = await db.Teams.Include(t => t.Members).FirstOrDefaultAsync(t => t.Name == team, ct) ?? throw NoSuchTeam(team);
        var administrator = await RequireManagerAsync(db, by, record, ct);
        var member = record.Members.FirstOrDefault(m => m.UserName == userName)
            ?? throw new ArgumentException($"'{userName}' is not a member of team '{team}'.", nameof(userName));
        RequireAnotherOwner(administrator, record, member, null);
        record.Members.Remove(member);
        await db.SaveChangesAsync(ct);
        Changed?.Invoke(team, false);
    }

    /// <summary>Sets the team's quota and isolation policy (administrators); checked as the agent would.</summary>
    public async Task SetLimitsAsync(ClaimsPrincipal by, string team, TeamQuota quota, IsolationPolicy policy, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await RequireAdministratorAsync(db, by, "set quotas and policies", ct);
        Validate(quota, policy);
        var record = await db.Teams.FirstOrDefaultAsync(t => t.Name == team, ct) ?? throw NoSuchTeam(team);
        record.Quota = Json(quota);
        record.Policy = Json(policy);
        await db.SaveChangesAsync(ct);
        Changed?.Invoke(team, false);
    }

    /// <summary>Remembers the team a user acts for (null: the first of theirs).</summary>
    public async Task SetActingTeamAsync(string userName, string? team, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        await db.Users.Where(u => u.UserName == userName).ExecuteUpdateAsync(u => u.SetProperty(x => x.ActingTeam, team), ct);
    }

    public async Task<string?> GetActingTeamAsync(string userName, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.Users.AsNoTracking().Where(u => u.UserName == userName).Select(u => u.ActingTeam).FirstOrDefaultAsync(ct);
    }

    /// <summary>Whether <paramref name="user"/> may change the team's membership: an administrator or one of its owners.</summary>
    public static bool MayManage(ClaimsPrincipal user, TeamInfo team) =>
        PortalRoles.IsAdministrator(user) || team.Members.Any(m => m.User == user.Identity?.Name && m.Role == TeamRole.Owner);

    internal static void Validate(TeamQuota quota, IsolationPolicy policy)
    {
        static void NotNegative(double? value, string what)
        {
            if (value is < 0)
            {
                throw new ArgumentException($"The quota's {what} is negative: give a number of 0 or more, or leave it empty for no limit.");
            }
        }

        NotNegative(quota.Containers, "containers");
        NotNegative(quota.VmContainers, "VM-isolated containers");
        NotNegative(quota.Cpus, "CPUs");
        NotNegative(quota.MemoryBytes, "memory");
        NotNegative(quota.Limits.DefaultCpus, "default CPUs per container");
        NotNegative(quota.Limits.DefaultMemoryBytes, "default memory per container");
        NotNegative(quota.Limits.MaxCpus, "maximum CPUs per container");
        NotNegative(quota.Limits.MaxMemoryBytes, "maximum memory per container");
        if (quota.Limits.DefaultCpus > quota.Limits.MaxCpus || quota.Limits.DefaultMemoryBytes > quota.Limits.MaxMemoryBytes)
        {
            throw new ArgumentException("A per-container default is above its maximum: lower the default or raise the maximum.");
        }

        if (policy.DefaultRuntimeType is { } preferred && policy.AllowedRuntimeTypes.Count > 0 && !policy.AllowedRuntimeTypes.Contains(preferred))
        {
            throw new ArgumentException($"The policy's default runtime type {preferred} is not among its allowed ones ({string.Join(", ", policy.AllowedRuntimeTypes)}): allow it or pick another default.");
        }
    }

    /// <summary>
    /// Whether the user <paramref name="by"/> names is, now, an enabled portal user, and an administrator: both the
    /// session's claims and the database must say so. A principal a page or a pending dialog kept may be older than a
    /// demotion or a disable (its circuit's revalidation comes up to <see cref="PortalOptions.UserRevalidationInterval"/>
    /// later, and what a client keeps rendered outlives it), so the claims alone do not decide a change.
    /// </summary>
    private static async Task<(bool Exists, bool Administrator)> CurrentAsync(PortalDbContext db, ClaimsPrincipal by, CancellationToken ct)
    {
        if (by.Identity?.IsAuthenticated != true || by.Identity.Name is not { } name)
        {
            return (false, false);
        }

        var user = await db.Users.AsNoTracking().Where(u => u.UserName == name).Select(u => new { u.IsAdministrator, u.LockoutEnd }).FirstOrDefaultAsync(ct);
        return user is null || UserAccounts.IsDisabled(user.LockoutEnd) ? (false, false) : (true, user.IsAdministrator && PortalRoles.IsAdministrator(by));
    }

    private static async Task RequireAdministratorAsync(PortalDbContext db, ClaimsPrincipal by, string what, CancellationToken ct)
    {
        if (!(await CurrentAsync(db, by, ct)).Administrator)
        {
            throw new UnauthorizedAccessException($"Only portal administrators may {what}.");
        }
    }

    /// <summary>An administrator or one of the team's owners, by the database now; returns whether an administrator.</summary>
    private static async Task<bool> RequireManagerAsync(PortalDbContext db, ClaimsPrincipal by, TeamRecord team, CancellationToken ct)
    {
        var (exists, administrator) = await CurrentAsync(db, by, ct);
        if (!exists || (!administrator && !team.Members.Any(m => m.UserName == by.Identity?.Name && m.Role == TeamRole.Owner)))
        {
            throw new UnauthorizedAccessException($"Only portal administrators and the owners of team '{team.Name}' may change its members.");
        }

        return administrator;
    }

    /// <summary>An owner cannot demote or remove the team's last owner while others remain: someone must be left to manage the team (an administrator still can).</summary>
    private static void RequireAnotherOwner(bool administrator, TeamRecord team, TeamMemberRecord member, TeamRole? newRole)
    {
        if (!administrator && member.Role == TeamRole.Owner && newRole != TeamRole.Owner && !team.Members.Any(m => m != member && m.Role == TeamRole.Owner)
            && team.Members.Count > 1)
        {
            throw new ArgumentException($"'{member.UserName}' is the last owner of team '{team.Name}': make another member an owner first.");
        }
    }

    private static ArgumentException NoSuchTeam(string name) => new($"There is no team '{name}': it may have been deleted; reload the page.");

    private static TeamInfo ToInfo(TeamRecord record) => new()
    {
        Name = record.Name,
        Members = record.Members.OrderBy(m => m.UserName, StringComparer.Ordinal).Select(m => new TeamMember { User = m.UserName, Role = m.Role }).ToList(),
        Quota = JsonSerializer.Deserialize<TeamQuota>(record.Quota, AgentTransport.Json) ?? new TeamQuota(),
        Policy = JsonSerializer.Deserialize<IsolationPolicy>(record.Policy, AgentTransport.Json) ?? new IsolationPolicy(),
    };

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, AgentTransport.Json);
}

/// <summary>A user's role in one team.</summary>
public sealed record Membership(string Team, TeamRole Role);
