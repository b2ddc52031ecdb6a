using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;
using Portal.Web.Components.Controls;
using Portal.Web.Components.Layout;
using Portal.Web.Components.Pages;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests;

/// <summary>
/// A user who is not an administrator acts for one of their teams: the portal's connections to the agents name the team
/// and the user (the agent then applies that member's role), the app bar picks the team, and the agent's refusals show.
/// </summary>
public sealed class ActingForTeamsTests : PortalTest
{
    private static readonly ClaimsPrincipal Admin = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, PortalRoles.Administrator)], "test"));

    private async Task<FakeAgentClient> SetUpAsync()
    {
        await Ctx.AddUserAsync("ann");
        await Ctx.AddUserAsync("bob");
        var admin = await Ctx.AddHostAsync("alpha", Views.View("blue-web", ContainerState.Running), Views.View("red-db", ContainerState.Running));
        await Ctx.Teams.CreateAsync(Admin, "blue", CancellationToken.None);
        await Ctx.Teams.CreateAsync(Admin, "red", CancellationToken.None);
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Owner, CancellationToken.None);
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "bob", TeamRole.Viewer, CancellationToken.None);
        await Ctx.Teams.SetMemberAsync(Admin, "red", "ann", TeamRole.Viewer, CancellationToken.None);
        // The agent lists a team caller only its team's containers; the fake answers the acting connections likewise.
        Ctx.Clients.Configure = c =>
        {
            if (c.Endpoint.ActingFor is { } actor)
            {
                c.Push(Views.Snapshot(Views.View($"{actor.Team}-{(actor.Team == "blue" ? "web" : "db")}", ContainerState.Running)));
            }
        };
        Ctx.Authorization.SetAuthorized("ann").SetRoles();
        return admin;
    }

    [Fact]
    public async Task A_member_sees_no_admin_pages_and_acts_for_the_picked_team_which_is_remembered()
    {
        await SetUpAsync();
        var nav = Ctx.Render<NavMenu>();
        Assert.DoesNotContain("Hosts", nav.Markup);
        Assert.DoesNotContain("Switches", nav.Markup);
        Assert.Contains("My team", nav.Markup);

        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Contains("blue-web", Assert.Single(page.FindAll("tr.container-row")).TextContent));
        var blue = Ctx.Clients.Created.Last(c => c.Endpoint.ActingFor is not null);
        Assert.Equal(new TeamActor("blue", "ann"), blue.Endpoint.ActingFor);
        Assert.Equal("pk_test_secret", blue.Endpoint.ApiKey); // the host's administrator key, acting for ann

        var picker = Ctx.Render<TeamPicker>();
        picker.WaitForAssertion(() => Assert.NotNull(picker.Find("[data-testid=acting-team]")));
        var session = Ctx.Services.GetRequiredService<Portal.Web.Teams.ActingSession>();
        await picker.InvokeAsync(() => session.SelectAsync("red"));
        page.WaitForAssertion(() => Assert.Contains("red-db", page.Find("tr.container-row").TextContent));
        Assert.True(blue.Disposed);
        Assert.Equal("red", await Ctx.Teams.GetActingTeamAsync("ann", CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => session.SelectAsync("green"));
    }

    [Fact]
    public async Task A_changed_role_or_a_removal_from_the_team_takes_effect_on_the_open_page()
    {
        await SetUpAsync();
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Contains("blue-web", page.Find("tr.container-row").TextContent));
        var asOwner = Ctx.Clients.Created.Last(c => c.Endpoint.ActingFor is not null);

        // The agent takes the member's role at connect: a new role means new connections.
        await Ctx.Teams.SetMemberAsync(Admin, "blue", "ann", TeamRole.Member, CancellationToken.None);
        await PortalTestContext.Eventually(() => asOwner.Disposed);
        var session = Ctx.Services.GetRequiredService<Portal.Web.Teams.ActingSession>();
        Assert.Equal(TeamRole.Member, session.Acting?.Role);

        // Out of blue: the page acts for her other team.
        await Ctx.Teams.RemoveMemberAsync(Admin, "blue", "ann", CancellationToken.None);
        page.WaitForAssertion(() => Assert.Contains("red-db", page.Find("tr.container-row").TextContent));
        Assert.Equal(new TeamActor("red", "ann"), session.Actor);
    }

    /// <summary>
    /// Disabled, demoted or deleted: the circuit's revalidation turns its user anonymous and the browser is sent to the
    /// sign-in page. A client that ignores that redirect keeps its circuit, and what stays rendered (an open dialog, a
    /// pending confirmation) still calls the session's hosts: they must act for no one any more.
    /// </summary>
    [Fact]
    public async Task A_member_whose_session_ends_keeps_no_connection_acting_for_them()
    {
        await SetUpAsync();
        Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Contains("blue-web", page.Find("tr.container-row").TextContent));
        var acting = Ctx.Clients.Created.Last(c => c.Endpoint.ActingFor is not null);
        var fleet = Ctx.Services.GetRequiredService<Portal.Web.Teams.SessionFleet>();

        Ctx.Authorization.SetNotAuthorized();

        await PortalTestContext.Eventually(() => acting.Disposed);
        await PortalTestContext.Eventually(() => fleet.Hosts.Count == 0);
        Assert.Null(fleet.Session.Actor);
        Assert.Empty(fleet.Session.Memberships);
        await Assert.ThrowsAsync<ArgumentException>(() => fleet.Session.SelectAsync("blue"));
    }

    [Fact]
    public async Task An_administrator_whose_session_ends_no_longer_reaches_the_portals_own_connections()
    {
        await Ctx.AddHostAsync("alpha", Views.View("web", ContainerState.Running));
        var fleet = Ctx.Services.GetRequiredService<Portal.Web.Teams.SessionFleet>();
        await fleet.Session.LoadAsync();
        Assert.Single(fleet.Hosts);

        Ctx.Authorization.SetNotAuthorized();

        await PortalTestContext.Eventually(() => fleet.Hosts.Count == 0);
        Assert.False(fleet.Session.IsAdministrator);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => fleet.RemoveAsync(Ctx.Fleet.Hosts[0].Id, CancellationToken.None));
        Assert.Single(Ctx.Fleet.Hosts);
    }

    /// <summary>The acting team is checked against the database when picked, not against the list the circuit read earlier.</summary>
    [Fact]
    public async Task Picking_a_team_the_user_was_just_removed_from_is_refused()
    {
        await SetUpAsync();
        var session = Ctx.Services.GetRequiredService<Portal.Web.Teams.ActingSession>();
        await session.LoadAsync();
        Assert.Contains(session.Memberships, m => m.Team == "red");
        await using (var db = await Ctx.Services.GetRequiredService<IDbContextFactory<Portal.Web.Data.PortalDbContext>>().CreateDbContextAsync())
        {
            await db.TeamMembers.Where(m => m.TeamName == "red" && m.UserName == "ann").ExecuteDeleteAsync();
        }

        await Assert.ThrowsAsync<ArgumentException>(() => session.SelectAsync("red"));
        Assert.Equal("blue", session.Acting?.Team);
        Assert.NotEqual("red", await Ctx.Teams.GetActingTeamAsync("ann", CancellationToken.None));
    }

    [Fact]
    public async Task A_refused_action_shows_the_agents_words_naming_the_rule()
    {
        await SetUpAsync();
        Ctx.Authorization.SetAuthorized("bob").SetRoles();
        var (_, snackbars) = Ctx.RenderProviders();
        var page = Ctx.Render<Containers>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("tr.container-row")));
        var acting = Ctx.Clients.Created.Last(c => c.Endpoint.ActingFor is not null);
        Assert.Equal(new TeamActor("blue", "bob"), acting.Endpoint.ActingFor);
        acting.Failures["StopContainer"] = new AgentException("Forbidden", "Role Viewer of team 'blue' may list and read the team's containers and their logs; stop needs Operator (rule team-role).", 403);

        await page.InvokeAsync(() => page.FindAll("button").Single(b => b.GetAttribute("aria-label") == "Stop blue-web").ClickAsync(new()));

        snackbars.WaitForAssertion(() => Assert.Contains("stop needs Operator (rule team-role)", snackbars.Markup));
    }

    [Fact]
    public async Task The_team_page_shows_an_owner_the_members_the_usage_and_the_teams_containers()
    {
        var admin = await SetUpAsync();
        admin.TeamUsages["blue"] = new TeamUsage { Team = "blue", Containers = 1, Quota = new TeamQuota { Containers = 3 } };
        Ctx.RenderProviders();
        var page = Ctx.Render<Team>();
        page.WaitForAssertion(() =>
        {
            Assert.Contains("Team blue", page.Markup);
            Assert.Equal("Owner", page.Find("[data-testid=my-role]").TextContent);
            Assert.NotNull(page.Find("[data-member=bob]"));
            Assert.NotNull(page.Find("[data-testid=add-member]")); // owners manage membership
            Assert.Contains("Containers: 1 of 3", page.Find("[data-testid=team-usage]").TextContent);
            Assert.Contains("blue-web", page.Find("tr.container-row").TextContent);
            Assert.Single(page.FindAll("tr.container-row"));
        });

        // A Viewer sees the members but cannot change them.
        Ctx.Authorization.SetAuthorized("bob").SetRoles();
        await Ctx.Services.GetRequiredService<Portal.Web.Teams.ActingSession>().ReloadAsync();
        var viewer = Ctx.Render<Team>();
        viewer.WaitForAssertion(() => Assert.NotNull(viewer.Find("[data-member=ann]")));
        Assert.Empty(viewer.FindAll("[data-testid=add-member]"));
    }

    /// <summary>The member downloads a docker context: issued by the host's administrator client for them in their acting team.</summary>
    [Fact]
    public async Task A_member_downloads_a_docker_context_issued_for_them_in_their_acting_team()
    {
        var admin = await SetUpAsync();
        var download = Ctx.JSInterop.SetupModule("./js/download.js");
        download.SetupVoid("saveAs", _ => true).SetVoidResult();
        var (_, snackbars) = Ctx.RenderProviders();
        var page = Ctx.Render<Team>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=docker-context][data-host=alpha]")));

        await page.InvokeAsync(() => page.Find("[data-testid=docker-context][data-host=alpha]").ClickAsync(new()));

        snackbars.WaitForAssertion(() => Assert.Contains("Downloaded blue-alpha.dockercontext", snackbars.Markup));
        Assert.Equal(("blue", "ann", "blue-alpha"), Assert.Single(admin.IssuedContexts));
        Assert.Equal("blue-alpha.dockercontext", download.VerifyInvoke("saveAs").Arguments[0]);

        // The agent's refusal (its listener is off) is shown as it says it.
        admin.Failures["IssueDockerContext"] = new AgentException("InvalidArgument", "The docker TLS listener is off on this agent.", 400);
        await page.InvokeAsync(() => page.Find("[data-testid=docker-context][data-host=alpha]").ClickAsync(new()));
        snackbars.WaitForAssertion(() => Assert.Contains("alpha: The docker TLS listener is off on this agent.", snackbars.Markup));
    }

    [Fact]
    public async Task The_create_dialog_shows_the_acting_teams_quota_left_and_only_the_allowed_runtime_types_and_the_agents_refusal()
    {
        var admin = await SetUpAsync();
        var quota = new TeamQuota { Containers = 2, MemoryBytes = 1L << 30, Limits = new LimitRange { MaxCpus = 2 } };
        await Ctx.Teams.SetLimitsAsync(Admin, "blue", quota, new IsolationPolicy { AllowedRuntimeTypes = [RuntimeType.HyperV] }, CancellationToken.None);
        admin.TeamUsages["blue"] = new TeamUsage { Team = "blue", Containers = 1, MemoryBytes = 256L << 20, Quota = quota };
        var (dialogs, _) = Ctx.RenderProviders();
        var service = Ctx.Services.GetRequiredService<MudBlazor.IDialogService>();
        await dialogs.InvokeAsync(() => service.ShowAsync<Portal.Web.Components.Dialogs.CreateContainerDialog>("New container"));
        dialogs.WaitForAssertion(() =>
        {
            var limits = dialogs.Find("[data-testid=create-team-limits]").TextContent;
            Assert.Contains("Acting for team blue as Owner, on alpha", limits);
            Assert.Contains("Containers: 1 of 2 used, 1 left", limits);
            Assert.Contains("Memory: 256 MiB of 1 GiB used, 768 MiB left", limits);
            Assert.Contains("Per container at most 2 CPUs", limits);
            Assert.Contains("Runtime types allowed: HyperV (VM)", limits);
        });

        // Only HyperV is offered, and it is chosen: the create goes to the agent as ann, VM-isolated.
        Assert.Equal([RuntimeType.HyperV], Portal.Web.Model.TeamQuotaSummary.AllowedRuntimeTypes(await Ctx.Teams.GetAsync("blue", CancellationToken.None)));
        Assert.Equal(Enum.GetValues<RuntimeType>(), Portal.Web.Model.TeamQuotaSummary.AllowedRuntimeTypes(null));
        var acting = Ctx.Clients.Created.Last(c => c.Endpoint.ActingFor is not null && c.Connected);
        acting.Failures["CreateContainer"] = new AgentException("QuotaExceeded", "Team 'blue' has used its quota of 2 containers on this host (2 in use) (rule quota.containers).", 403);
        Input(dialogs, "Image").Change("busybox");
        await dialogs.Find("[data-testid=create-submit]").ClickAsync(new());
        await PortalTestContext.Eventually(() => acting.Calls.Any(c => c == "CreateContainer null busybox HyperV"));
        dialogs.WaitForAssertion(() => Assert.Contains("(rule quota.containers)", dialogs.Find("[data-testid=create-errors]").TextContent));
    }

    private static AngleSharp.Dom.IElement Input<T>(IRenderedComponent<T> component, string label)
        where T : Microsoft.AspNetCore.Components.IComponent
    {
        var labelElement = component.FindAll("label").First(l => l.TextContent.Trim().StartsWith(label, StringComparison.Ordinal));
        var id = labelElement.GetAttribute("for");
        return id is not null && component.FindAll($"#{id}").FirstOrDefault() is { } byId
            ? byId
            : labelElement.ParentElement!.QuerySelector("input, textarea")!;
    }
}
