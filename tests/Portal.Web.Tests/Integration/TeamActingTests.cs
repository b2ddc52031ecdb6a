using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Teams;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// The portal's team pieces against the real agent process (root: it runs containers): the portal pushes a team, and a
/// portal user who is not an administrator, acting for a Viewer of it through the host's administrator key, cannot
/// create: the agent refuses, naming the role.
/// </summary>
[Trait("Requires", "root")]
public sealed class TeamActingTests : IAsyncLifetime
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, PortalRoles.Administrator)], "test"));
    private readonly TestSandbox _sandbox = new("portal-web-teams");
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-web-teams-").FullName;
    private AgentProcess _agent = null!;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _agent = new AgentProcess(_sandbox);
        await _agent.StartAsync();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new PortalOptions { ReconnectInitialDelay = TimeSpan.FromMilliseconds(100) }));
        PortalStorage.Sqlite(Path.Combine(_directory, "portal.db")).AddTo(services);
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        services.AddSingleton<HostRegistry>();
        services.AddSingleton<IAgentClientFactory>(new AgentClientFactory("Portal.Web.Tests/1.0"));
        services.AddSingleton<Fleet>();
        services.AddSingleton<TeamDirectory>();
        services.AddSingleton<TeamSync>();
        services.AddScoped<AuthenticationStateProvider>(_ => new SignedIn("ann"));
        services.AddScoped<ActingSession>();
        services.AddScoped<SessionFleet>();
        _services = services.BuildServiceProvider();
        await using var db = await _services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        await PortalMigrations.MigrateAsync(db, CancellationToken.None);
        db.Users.Add(new PortalUser { UserName = "admin", NormalizedUserName = "ADMIN", IsAdministrator = true });
        db.Users.Add(new PortalUser { UserName = "ann", NormalizedUserName = "ANN" });
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        try
        {
            await _services.DisposeAsync();
            await _agent.DisposeAsync();
        }
        finally
        {
            _sandbox.Clean();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_directory, recursive: true);
        }
    }

    [RootFact]
    public async Task A_portal_user_acting_for_a_Viewer_cannot_create_the_agent_refuses_naming_the_role()
    {
        var fleet = _services.GetRequiredService<Fleet>();
        var sync = _services.GetRequiredService<TeamSync>();
        var teams = _services.GetRequiredService<TeamDirectory>();
        var host = await fleet.AddAsync("local", _agent.TcpUri, _agent.AdminKey, CancellationToken.None);
        await PortalTestContext.Eventually(() => host.State == HostConnectionState.Connected);
        await teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Viewer, CancellationToken.None);
        await sync.PushAsync("blue", deleted: false);
        Assert.True(sync.StatusOf("blue").Single().Succeeded, sync.StatusOf("blue").Single().Error);

        await using var circuit = _services.CreateAsyncScope();
        var session = circuit.ServiceProvider.GetRequiredService<SessionFleet>();
        session.MarkInteractive(); // as the first interactive render of a page does
        var acting = await PortalTestContext.Eventually(() => session.Hosts.FirstOrDefault(h => h.State == HostConnectionState.Connected), 60_000);
        Assert.Equal(new TeamActor("blue", "ann"), acting.Registration.Endpoint.ActingFor);
        Assert.Equal(new TeamActor("blue", "ann"), session.Session.Actor);
        // Every subscription of the member's connection is allowed (host info, compute systems, statistics): it stays up.
        await PortalTestContext.Eventually(() => acting.Info is not null, 60_000);
        Assert.Equal((HostConnectionState.Connected, 0, null), (acting.State, acting.FailedAttempts, acting.LastError));

        // The member's view holds the team's containers only: one an administrator made for the team, not the other.
        var admin = host.Client;
        var forTeam = await admin.CreateContainerAsync(new ContainerCreateSpec { Name = "blue-made", Image = "busybox", Command = ["sleep", "60"], Labels = new Dictionary<string, string> { ["io.portal.team"] = "blue" } }, CancellationToken.None);
        var adminOnly = await admin.CreateContainerAsync(new ContainerCreateSpec { Name = "admin-made", Image = "busybox", Command = ["sleep", "60"] }, CancellationToken.None);
        try
        {
            await PortalTestContext.Eventually(() => host.Containers.ContainsKey(adminOnly.Id) && acting.Containers.ContainsKey(forTeam.Id), 60_000);
            Assert.Equal([forTeam.Id], acting.Containers.Keys);
        }
        finally
        {
            await admin.RemoveContainerAsync(forTeam.Id, force: true, CancellationToken.None);
            await admin.RemoveContainerAsync(adminOnly.Id, force: true, CancellationToken.None);
        }

        var refused = await Assert.ThrowsAsync<AgentException>(() => acting.Client.CreateContainerAsync(
            new ContainerCreateSpec { Name = "viewer-made", Image = "busybox", Command = ["sleep", "60"] }, CancellationToken.None));
        Assert.Equal("Forbidden", refused.Code);
        Assert.Contains("Viewer", refused.Message);
        Assert.DoesNotContain(await host.Client.ListContainersAsync(CancellationToken.None), v => v.Container.Name == "viewer-made");

        // Deleting the team removes it from the agent: the acting connection is refused from then on.
        await teams.DeleteAsync(Admin, "blue", CancellationToken.None);
        await PortalTestContext.Eventually(() => !sync.StatusOf("blue").Any());
    }

    private sealed class SignedIn(string user) : AuthenticationStateProvider
    {
        public override Task<AuthenticationState> GetAuthenticationStateAsync() =>
            Task.FromResult(new AuthenticationState(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "test"))));
    }
}
