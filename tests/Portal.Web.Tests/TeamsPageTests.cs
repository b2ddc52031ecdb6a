using System.Security.Claims;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Data;
using TeamsPage = Portal.Web.Components.Pages.Teams;
using Portal.Web.Teams;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>The administrators' Teams page and the pushing of teams to the agents, against fake agents.</summary>
public sealed class TeamsPageTests : PortalTest
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, PortalRoles.Administrator)], "test"));

    [Fact]
    public async Task An_administrator_creates_a_team_adds_a_member_sets_limits_and_deletes_it_and_every_host_follows()
    {
        await Ctx.AddUserAsync("ann");
        var agent = await Ctx.AddHostAsync("alpha");
        _ = Ctx.Teams;
        var (dialogs, snackbars) = Ctx.RenderProviders();
        var page = Ctx.Render<TeamsPage>();

        Input(page, "new-team-name").Change("Blue Team");
        await page.Find("[data-testid=create-team]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Contains("'Blue Team' is not a team name", page.Find("[role=alert]").TextContent));

        Input(page, "new-team-name").Change("blue");
        await page.Find("[data-testid=create-team]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-team=blue]")));
        await PortalTestContext.Eventually(() => agent.Teams.ContainsKey("blue"));

        // Members: the directory is what the page calls; the page then shows the pushed result.
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Member, CancellationToken.None);
        await PortalTestContext.Eventually(() => agent.Teams.GetValueOrDefault("blue")?.Members.SingleOrDefault()?.User == "ann");
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => Ctx.Teams.SetMemberAsync(Admin, "blue", "nobody", TeamRole.Viewer, CancellationToken.None));
        Assert.Contains("There is no portal user 'nobody'", missing.Message);

        // Quota and policy through the form: a HyperV-only team with two containers.
        page.Render();
        Input(page, "quota-containers").Change("2");
        Input(page, "policy-allow-hyperv").Change(true);
        await page.Find("[data-testid=save-limits]").ClickAsync(new());
        var pushed = await PortalTestContext.Eventually(() => agent.Teams.GetValueOrDefault("blue") is { Quota.Containers: 2 } t ? t : null);
        Assert.Equal([RuntimeType.HyperV], pushed.Policy.AllowedRuntimeTypes);
        Assert.Equal(("ann", TeamRole.Member), (pushed.Members[0].User, pushed.Members[0].Role));
        page.WaitForAssertion(() => Assert.Contains("alpha: up to date", page.Find("[data-testid=team-push-status]").TextContent));

        // Usage as bars, when the agent answers the usage call.
        agent.TeamUsages["blue"] = new TeamUsage { Team = "blue", Containers = 1, Quota = pushed.Quota };
        await page.Find("[data-team=blue] [data-testid=refresh-usage]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Contains("Containers: 1 of 2", page.Find("[data-testid=team-usage]").TextContent));

        // Delete, after a confirmation.
        await page.InvokeAsync(() => { _ = page.Find("[data-team=blue] [data-testid=delete-team]").ClickAsync(new()); });
        dialogs.WaitForAssertion(() => Assert.Contains("removed from the portal and from every host", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Delete").Click();
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-team=blue]")));
        await PortalTestContext.Eventually(() => !agent.Teams.ContainsKey("blue"));
        Assert.Empty(await Ctx.Teams.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_failed_push_shows_per_host_and_a_host_gets_every_team_and_missed_removal_when_it_reconnects()
    {
        await Ctx.AddUserAsync("ann");
        var agent = await Ctx.AddHostAsync("alpha");
        _ = Ctx.Teams;
        agent.Failures["PutTeam"] = new AgentException("Forbidden", "The key's scope is Operate: teams need an Admin key.", 403);
        await Ctx.Teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await Ctx.Teams.CreateAsync(Admin, "gone", CancellationToken.None);
        Ctx.RenderProviders();
        var page = Ctx.Render<TeamsPage>();
        page.WaitForAssertion(() => Assert.Contains("alpha: not pushed: The key's scope is Operate", page.Find("[data-team=blue] [data-testid=team-push-status]").TextContent));

        // While the host is away, a team is deleted: it learns of that when it is back.
        Ctx.Clients.Configure = c => c.ConnectError = new AgentException(AgentException.Unreachable, "The agent is away.");
        await agent.DropAsync();
        await PortalTestContext.Eventually(() => Ctx.Fleet.Hosts[0].State != Portal.Web.Hosts.HostConnectionState.Connected);
        agent.Teams["gone"] = new TeamInfo { Name = "gone" };
        await Ctx.Teams.DeleteAsync(Admin, "gone", CancellationToken.None);
        // The host also still holds a team the portal never had since (it was deleted while the portal was down).
        Ctx.Clients.Configure = c =>
        {
            c.Teams["ghost"] = new TeamInfo { Name = "ghost" };
            c.Push(Views.Snapshot());
        };
        var again = await PortalTestContext.Eventually(() => Ctx.Clients.Created.LastOrDefault(c => c != agent && c.Teams.ContainsKey("blue")));
        await PortalTestContext.Eventually(() => again.Calls.Contains("RemoveTeam gone"));
        await PortalTestContext.Eventually(() => !again.Teams.ContainsKey("ghost"));
        page.WaitForAssertion(() => Assert.Contains("alpha: up to date", page.Find("[data-team=blue] [data-testid=team-push-status]").TextContent));
    }

    /// <summary>
    /// A principal a page keeps (the Teams page's user, a confirmation still open in a circuit whose client ignored the
    /// redirect to the sign-in page) may be older than a demotion or a disable: the directory asks the database.
    /// </summary>
    [Fact]
    public async Task A_kept_principal_changes_no_team_once_its_user_is_demoted_or_disabled()
    {
        await Ctx.AddUserAsync("root2", administrator: true);
        await Ctx.AddUserAsync("ann");
        await Ctx.AddUserAsync("bob");
        var ann = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ann")], "test"));
        await Ctx.Teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Owner, CancellationToken.None);
        await using (var scope = Ctx.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            await UserAccounts.SetAdministratorAsync(users, "admin", false);
            await UserAccounts.DisableAsync(users, (await users.FindByNameAsync("ann"))!);
        }

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.DeleteAsync(Admin, "blue", CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.CreateAsync(Admin, "red", CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.SetLimitsAsync(Admin, "blue", new TeamQuota { Containers = 99 }, new IsolationPolicy(), CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.SetMemberAsync(Admin, "blue", "bob", TeamRole.Owner, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.SetMemberAsync(ann, "blue", "bob", TeamRole.Owner, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.RemoveMemberAsync(ann, "blue", "ann", CancellationToken.None));
        var blue = await Ctx.Teams.GetAsync("blue", CancellationToken.None);
        Assert.Equal([("ann", TeamRole.Owner)], blue!.Members.Select(m => (m.User, m.Role)));
        Assert.Null(blue.Quota.Containers);
        Assert.Single(await Ctx.Teams.ListAsync(CancellationToken.None));
    }

    /// <summary>
    /// A disabled user (./deploy/portal disable-user, a process of its own on the database) is left out of the teams the
    /// hosts get, so their docker certificates and anything acting for them stop working there; the portal keeps the
    /// membership, and enabling the user (reset-password) gives it back to the hosts.
    /// </summary>
    [Fact]
    public async Task A_disabled_user_is_withheld_from_the_hosts_copy_of_their_teams_until_enabled_again()
    {
        Ctx.Options.UserRevalidationInterval = TimeSpan.FromMilliseconds(50);
        await Ctx.AddUserAsync("ann");
        await Ctx.AddUserAsync("bob");
        var agent = await Ctx.AddHostAsync("alpha");
        var sync = Ctx.Services.GetRequiredService<TeamSync>();
        await sync.StartAsync(CancellationToken.None);
        try
        {
            await Ctx.Teams.CreateAsync(Admin, "blue", CancellationToken.None);
            await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Member, CancellationToken.None);
            await Ctx.Teams.SetMemberAsync(Admin, "blue", "bob", TeamRole.Viewer, CancellationToken.None);
            await PortalTestContext.Eventually(() => agent.Teams.TryGetValue("blue", out var pushed) && pushed.Members.Count == 2);

            await using (var scope = Ctx.Services.CreateAsyncScope())
            {
                var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
                await UserAccounts.DisableAsync(users, (await users.FindByNameAsync("ann"))!);
            }

            await PortalTestContext.Eventually(() => agent.Teams["blue"].Members.Select(m => m.User).SequenceEqual(["bob"]));
            Assert.Contains((await Ctx.Teams.GetAsync("blue", CancellationToken.None))!.Members, m => m.User == "ann");

            // A change of the team while she is disabled leaves her out too.
            await Ctx.Teams.SetMemberAsync(Admin, "blue", "bob", TeamRole.Operator, CancellationToken.None);
            await PortalTestContext.Eventually(() => agent.Teams["blue"].Members is [{ User: "bob", Role: TeamRole.Operator }]);

            await using (var scope = Ctx.Services.CreateAsyncScope())
            {
                var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
                await users.SetLockoutEndDateAsync((await users.FindByNameAsync("ann"))!, null);
            }

            await PortalTestContext.Eventually(() => agent.Teams["blue"].Members.Any(m => m.User == "ann" && m.Role == TeamRole.Member));
        }
        finally
        {
            await sync.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Only_administrators_and_owners_change_a_teams_members_and_the_last_owner_stays()
    {
        await Ctx.AddUserAsync("ann");
        await Ctx.AddUserAsync("bob");
        var ann = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "ann")], "test"));
        var bob = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "bob")], "test"));
        await Ctx.Teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.CreateAsync(ann, "red", CancellationToken.None));
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Owner, CancellationToken.None);
        await Ctx.Teams.SetMemberAsync(ann, "blue", "bob", TeamRole.Viewer, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.SetMemberAsync(bob, "blue", "bob", TeamRole.Owner, CancellationToken.None));
        Assert.Contains("owners of team 'blue'", refused.Message);
        var last = await Assert.ThrowsAsync<ArgumentException>(() => Ctx.Teams.SetMemberAsync(ann, "blue", "ann", TeamRole.Member, CancellationToken.None));
        Assert.Contains("'ann' is the last owner of team 'blue'", last.Message);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Ctx.Teams.SetLimitsAsync(ann, "blue", new TeamQuota(), new IsolationPolicy(), CancellationToken.None));
        Assert.Equal([new Membership("blue", TeamRole.Viewer)], await Ctx.Teams.MembershipsAsync("bob", CancellationToken.None));
    }

    [Fact]
    public async Task The_users_page_adds_a_user_with_a_one_time_password_and_makes_it_an_administrator()
    {
        Ctx.RenderProviders();
        var page = Ctx.Render<Portal.Web.Components.Pages.Users>();
        page.Find("input[data-testid=new-user-name], [data-testid=new-user-name] input").Change("carol");
        await page.Find("[data-testid=add-user]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Matches("^\\S{12,}$", page.Find("[data-testid=new-user-password]").TextContent));
        Assert.NotNull(page.Find("[data-user=carol]"));

        page.Find("[data-user=carol] input[data-testid=user-admin], [data-user=carol] [data-testid=user-admin] input").Change(true);
        await using var scope = Ctx.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<Portal.Web.Data.PortalUser>>();
        await PortalTestContext.Eventually(() => users.Users.AsNoTracking().Single(u => u.UserName == "carol").IsAdministrator);

        await page.Find("[data-testid=add-user]").ClickAsync(new());
        page.WaitForAssertion(() => Assert.Contains("Enter the new user's name", page.Find("[role=alert]").TextContent));
    }

    /// <summary>A MudBlazor field's input: the test id lands on the input itself (text fields) or on a wrapper (switches).</summary>
    private static AngleSharp.Dom.IElement Input(IRenderedComponent<TeamsPage> page, string testId) =>
        page.Find($"input[data-testid={testId}], [data-testid={testId}] input");
}
