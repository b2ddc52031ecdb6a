using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;
using Portal.Web.Teams;

namespace Portal.Web.Tests.Data;

/// <summary>
/// The teams tables on each database (a temporary SQLite file, and PostgreSQL as root): teams with their members, quota
/// and policy round-trip; a name is unique; deleting a team removes its members and forgets it as anyone's acting team.
/// </summary>
public abstract class TeamDirectoryTests : IAsyncLifetime
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, PortalRoles.Administrator)], "test"));
    private TestDatabase _database = null!;
    private ServiceProvider _services = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public sealed class OnSqlite : TeamDirectoryTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
    }

    [RootOnlyTests]
    [Collection(PostgreSqlCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServer server) : TeamDirectoryTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => server.CreateDatabaseAsync();
    }

    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        var services = new ServiceCollection();
        _database.Storage.AddTo(services);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<TeamDirectory>();
        _services = services.BuildServiceProvider();
        await using var db = await _services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        await PortalMigrations.MigrateAsync(db, CancellationToken.None);
        db.Users.AddRange(
            new PortalUser { UserName = "admin", NormalizedUserName = "ADMIN", IsAdministrator = true },
            new PortalUser { UserName = "ann", NormalizedUserName = "ANN", ActingTeam = null },
            new PortalUser { UserName = "bob", NormalizedUserName = "BOB" });
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    [DatabaseFact]
    public async Task A_team_keeps_its_members_quota_and_policy_and_deleting_it_removes_them()
    {
        var teams = _services.GetRequiredService<TeamDirectory>();
        var changes = new List<(string, bool)>();
        teams.Changed += (team, deleted) => changes.Add((team, deleted));
        await teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await teams.CreateAsync(Admin, "red", CancellationToken.None);
        var taken = await Assert.ThrowsAsync<ArgumentException>(() => teams.CreateAsync(Admin, "blue", CancellationToken.None));
        Assert.Contains("There is already a team 'blue'", taken.Message);
        await teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Owner, CancellationToken.None);
        await teams.SetMemberAsync(Admin, "blue", "bob", TeamRole.Operator, CancellationToken.None);
        await teams.SetMemberAsync(Admin, "red", "ann", TeamRole.Viewer, CancellationToken.None);
        var quota = new TeamQuota { Containers = 5, VmContainers = 2, Cpus = 4.5, MemoryBytes = 8L << 30, Limits = new LimitRange { DefaultCpus = 0.5, MaxMemoryBytes = 2L << 30 } };
        var policy = new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV], DefaultRuntimeType = RuntimeType.HyperV, Mode = PolicyMode.Warn, AllowPrivileged = true };
        await teams.SetLimitsAsync(Admin, "blue", quota, policy, CancellationToken.None);
        await teams.SetActingTeamAsync("ann", "blue", CancellationToken.None);

        var blue = (await teams.GetAsync("blue", CancellationToken.None))!;
        Assert.Equal(["ann:Owner", "bob:Operator"], blue.Members.Select(m => $"{m.User}:{m.Role}"));
        Assert.Equal(quota, blue.Quota);
        Assert.Equal([RuntimeType.HyperV], blue.Policy.AllowedRuntimeTypes);
        Assert.Equal((RuntimeType.HyperV, PolicyMode.Warn, true), (blue.Policy.DefaultRuntimeType, blue.Policy.Mode, blue.Policy.AllowPrivileged));
        Assert.Equal([new Membership("blue", TeamRole.Owner), new Membership("red", TeamRole.Viewer)], await teams.MembershipsAsync("ann", CancellationToken.None));
        Assert.Equal("blue", await teams.GetActingTeamAsync("ann", CancellationToken.None));
        var bad = await Assert.ThrowsAsync<ArgumentException>(() => teams.SetLimitsAsync(Admin, "blue", new TeamQuota { Containers = -1 }, policy, CancellationToken.None));
        Assert.Contains("The quota's containers is negative", bad.Message);

        await teams.DeleteAsync(Admin, "blue", CancellationToken.None);
        Assert.Equal(["red"], (await teams.ListAsync(CancellationToken.None)).Select(t => t.Name));
        Assert.Equal([new Membership("red", TeamRole.Viewer)], await teams.MembershipsAsync("ann", CancellationToken.None));
        Assert.Empty(await teams.MembershipsAsync("bob", CancellationToken.None));
        Assert.Null(await teams.GetActingTeamAsync("ann", CancellationToken.None));
        Assert.Equal(("blue", true), changes[^1]);
        await using var db = await _services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        Assert.Equal(1, await db.TeamMembers.CountAsync());
    }
}
