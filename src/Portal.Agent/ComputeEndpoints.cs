using System.Text;
using Portal.Agent.Audit;
using Portal.Agent.Auth;
using Portal.Agent.Hub;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Containers;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent;

public sealed record ExecResult(int ExitCode, string Stdout, string Stderr);

/// <summary>The REST API: the hub's operations for scripts and tools, with the same auth and one error model.</summary>
public static class ComputeEndpoints
{
    public static void MapAgentEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (ComputeHostService compute) => compute.IsReady
            ? Results.Ok(new { status = "ok" })
            : Results.Json(new { status = "starting" }, statusCode: StatusCodes.Status503ServiceUnavailable))
            .AllowAnonymous().ExcludeFromDescription();

        var api = app.MapGroup("/api").RequireAuthorization(AgentPolicies.Read).RequireComputeReady();
        api.MapGet("/host", (IComputeHost c) => c.GetHostInfo());
        // Read keys see host processes without their command lines (HostProcessVisibility).
        api.MapGet("/host/processes", (string? match, System.Security.Claims.ClaimsPrincipal user, IComputeHost c) => HostProcessVisibility.Find(c.HostProcesses, match, user));

        api.MapGet("/stats", async (IComputeHost c, CancellationToken ct) => await c.Containers.GetAllStatisticsAsync(ct)).WithTags("Containers");
        var containers = api.MapGroup("/containers").WithTags("Containers");
        containers.MapGet("/", (IComputeHost c) => c.Containers.ListContainers().Select(ContainerCommands.View));
        containers.MapGet("/{id}", (string id, IComputeHost c) => ContainerCommands.View(c.Containers.GetContainer(id)));
        containers.MapGet("/{id}/processes", async (string id, IComputeHost c, CancellationToken ct) => await c.Containers.GetProcessesAsync(id, ct));
        containers.MapGet("/{id}/isolation", async (string id, System.Security.Claims.ClaimsPrincipal user, IComputeHost c, CancellationToken ct) =>
            HostProcessVisibility.For(await c.HostProcesses.GetIsolationViewAsync(id, ct), user));
        containers.MapGet("/{id}/stats", async (string id, IComputeHost c, CancellationToken ct) => await c.Containers.GetStatisticsAsync(id, ct));
        containers.MapGet("/{id}/logs", async (string id, int? tail, bool? follow, HttpContext http, IComputeHost c, CancellationToken ct) =>
        {
            var entries = c.Containers.ReadLogsAsync(id, tail, follow ?? false, ct);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await foreach (var entry in entries)
            {
                await http.Response.WriteAsync(entry.Text, ct);
                await http.Response.Body.FlushAsync(ct);
            }
        });
        containers.MapPost("/{id}/wait", async (string id, IComputeHost c, CancellationToken ct) => await c.Containers.WaitAsync(id, ct));

        var operate = containers.MapGroup("").RequireAuthorization(AgentPolicies.Operate);
        operate.MapPost("/", async Task<IResult> (ContainerCreateSpec spec, HttpContext http, IComputeHost c, CancellationToken ct) =>
        {
            using var warnings = PolicyWarnings.Collect();
            var created = await c.Containers.CreateContainerAsync(spec, ct);
            AddWarnings(http, warnings);
            return Results.Created($"/api/containers/{created.Id}", created);
        }).Audited(AuditActions.ContainerCreate, "container");
        operate.MapPost("/{id}/start", async (string id, IComputeHost c, CancellationToken ct) => await c.Containers.StartContainerAsync(id, ct)).Audited(AuditActions.ContainerStart, "container", "id");
        operate.MapPost("/{id}/stop", async (string id, double? timeout, IComputeHost c, CancellationToken ct) =>
            await c.Containers.ShutdownContainerAsync(id, StopTimeout.FromSeconds(timeout), ct)).Audited(AuditActions.ContainerStop, "container", "id");
        operate.MapPost("/{id}/restart", async (string id, double? timeout, IComputeHost c, CancellationToken ct) =>
            await c.Containers.RestartContainerAsync(id, StopTimeout.FromSeconds(timeout), ct)).Audited(AuditActions.ContainerRestart, "container", "id");
        operate.MapPost("/{id}/terminate", async (string id, IComputeHost c, CancellationToken ct) => await c.Containers.TerminateContainerAsync(id, ct)).Audited(AuditActions.ContainerTerminate, "container", "id");
        operate.MapPost("/{id}/kill", async Task<IResult> (string id, int? signal, IComputeHost c, CancellationToken ct) =>
        {
            await c.Containers.KillContainerAsync(id, signal ?? 9, ct);
            return Results.NoContent();
        }).Audited(AuditActions.ContainerKill, "container", "id");
        operate.MapPost("/{id}/convert", async (string id, RuntimeType runtimeType, bool? restart, HttpContext http, IComputeHost c, CancellationToken ct) =>
        {
            using var warnings = PolicyWarnings.Collect();
            var converted = await c.Containers.ConvertContainerAsync(id, runtimeType, restart ?? false, null, ct);
            AddWarnings(http, warnings);
            return converted;
        }).Audited(AuditActions.ContainerConvert, "container", "id");
        operate.MapDelete("/{id}", async Task<IResult> (string id, bool? force, IComputeHost c, CancellationToken ct) =>
        {
            await c.Containers.RemoveContainerAsync(id, force ?? false, ct);
            return Results.NoContent();
        }).Audited(AuditActions.ContainerRemove, "container", "id");
        operate.MapPost("/{id}/exec", async Task<ExecResult> (string id, ExecStart request, IComputeHost c, CancellationToken ct) =>
        {
            if (request.Tty || request.Stdin)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, "REST exec runs a command to completion without a terminal or input; use the hub's Exec stream (or docker exec -it) for interactive processes.");
            }

            await using var process = await c.Containers.ExecAsync(id, ProcessStreams.Spec(request), ct);
            var (stdout, stderr) = await ProcessStreams.CollectAsync(process.StandardOutput, process.StandardError, ProcessStreams.RestOutputLimit, request.Command.FirstOrDefault() ?? "", ct);
            var code = await process.WaitAsync(ct);
            return new ExecResult(code, stdout, stderr);
        }).Audited(AuditActions.ContainerExec, "container", "id");

        api.MapGet("/compute-systems", (string? type, string? owner, string? name, IComputeHost c) =>
            c.HostProcesses.EnumerateComputeSystems(new ComputeSystemQuery
            {
                Types = type is null ? [] : [Enum.TryParse<ComputeSystemType>(type, ignoreCase: true, out var t) ? t : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown compute system type '{type}': use Container or VirtualMachine.")],
                Owners = owner is null ? [] : [owner],
                Names = name is null ? [] : [name],
            })).WithTags("Compute systems");
        var images = api.MapGroup("/images").WithTags("Images");
        images.MapGet("/", (IComputeHost c) => c.Images.List().Select(ImageView));
        var imageAdmin = images.MapGroup("").RequireAuthorization(AgentPolicies.Operate);
        imageAdmin.MapPost("/", async Task<IResult> (string? tag, HttpContext http, IComputeHost c, CancellationToken ct) =>
        {
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null; // the image store bounds what an archive may unpack
            }

            var imported = await c.Images.ImportAsync(http.Request.Body, string.IsNullOrWhiteSpace(tag) ? null : tag, null, ct);
            return Results.Json(imported.Select(ImageView).ToList(), statusCode: StatusCodes.Status201Created);
        }).Accepts<Stream>("application/x-tar", "application/gzip", "application/octet-stream").Audited(AuditActions.ImageImport, "image");
        // A catch-all: references may hold slashes (registry:5000/team/app:1).
        imageAdmin.MapDelete("/{**reference}", async Task<IResult> (string reference, IComputeHost c, CancellationToken ct) =>
        {
            await c.Images.RemoveAsync(reference, force: false, ct);
            return Results.NoContent();
        }).Audited(AuditActions.ImageRemove, "image", "reference");

        var switches = api.MapGroup("/switches").WithTags("Switches");
        switches.MapGet("/", (IComputeHost c) => c.Switches.ListSwitches());
        switches.MapGet("/{name}", (string name, IComputeHost c) => c.Switches.GetSwitch(name));
        switches.MapPost("/", async Task<IResult> (SwitchCreateSpec spec, IComputeHost c, CancellationToken ct) =>
        {
            var created = await c.Switches.CreateSwitchAsync(spec, ct);
            return Results.Created($"/api/switches/{created.Id}", created);
        }).RequireAuthorization(AgentPolicies.Operate).Audited(AuditActions.SwitchCreate, "switch");
        switches.MapDelete("/{name}", async Task<IResult> (string name, IComputeHost c, CancellationToken ct) =>
        {
            await c.Switches.RemoveSwitchAsync(name, ct);
            return Results.NoContent();
        }).RequireAuthorization(AgentPolicies.Operate).Audited(AuditActions.SwitchRemove, "switch", "name");

        var keys = api.MapGroup("/keys").RequireAuthorization(AgentPolicies.Admin).WithTags("API keys");
        keys.MapGet("/", (ApiKeyStore store) => store.List()).Audited(AuditActions.KeyList, "key");
        // Recorded with the key's id and name, never its secret.
        keys.MapPost("/", async (ApiKeyRequest request, ApiKeyStore store, TeamStore teams, AuditTrail audit, CancellationToken ct) =>
            await audit.RecordAsync(AuditActions.KeyCreate, audit.Target("key", null, request.Name), () => CreateKeyAsync(request, store, teams, ct),
                created => audit.Target("key", created.Key.Id, created.Key.Name), details: KeyDetails(request)))
            .Audited(AuditActions.KeyCreate, "key");
        keys.MapPost("/{keyId}/rotate", async (string keyId, ApiKeyStore store, AuditTrail audit, CancellationToken ct) =>
            await audit.RecordAsync(AuditActions.KeyRotate, KeyTarget(audit, store, keyId), () => store.RotateAsync(keyId, ct)))
            .Audited(AuditActions.KeyRotate, "key", "keyId");
        keys.MapDelete("/{keyId}", async (string keyId, ApiKeyStore store, AuditTrail audit, CancellationToken ct) =>
            await audit.RecordAsync(AuditActions.KeyRevoke, KeyTarget(audit, store, keyId), () => store.RevokeAsync(keyId, ct)))
            .Audited(AuditActions.KeyRevoke, "key", "keyId");

        // The teams this agent enforces; the portal pushes each whole (PUT), the agent keeps its copy.
        var teamsApi = api.MapGroup("/teams").RequireAuthorization(AgentPolicies.Admin).WithTags("Teams");
        teamsApi.MapGet("/", (TeamStore store) => store.List()).Audited(AuditActions.TeamList, "team");
        teamsApi.MapGet("/{name}", (string name, TeamStore store) => store.Get(name)).Audited(AuditActions.TeamList, "team", "name");
        teamsApi.MapPut("/{name}", async (string name, TeamInfo? team, TeamStore store, AuditTrail audit, CancellationToken ct) =>
            await audit.RecordAsync(AuditActions.TeamPut, audit.Target("team", name, name), () => store.PutAsync(TeamBody(name, team), ct),
                details: team is null ? null : TeamDetails(team)))
            .Audited(AuditActions.TeamPut, "team", "name");
        teamsApi.MapDelete("/{name}", async (string name, TeamStore store, ApiKeyStore keys, AuditTrail audit, CancellationToken ct) =>
            await audit.RecordAsync(AuditActions.TeamRemove, audit.Target("team", name, name), () => RemoveTeamAsync(name, store, keys, ct)))
            .Audited(AuditActions.TeamRemove, "team", "name");

        // A team's use of this host against its quota: for administrators, and for the team's own callers.
        api.MapGet("/teams/{name}/usage", (string name, System.Security.Claims.ClaimsPrincipal user, TeamStore store, TeamQuotaLedger quotas) =>
        {
            if (AuditCaller.Current?.Team is { } team ? team != name : AgentPolicies.ScopeOf(user) != ApiScope.Admin)
            {
                throw new ComputeException(ComputeErrorCode.Forbidden, AuditCaller.Current?.Team is { } own
                    ? $"This caller acts for team '{own}': it may read that team's usage only (GET /api/teams/{own}/usage)."
                    : "A team's usage is for administrators (an Admin key) and the team's own callers.");
            }

            return quotas.Usage(store.Get(name));
        }).WithTags("Teams");

        api.MapGet("/audit", AuditEndpoints.Read).RequireAuthorization(AgentPolicies.Admin).Audited(AuditActions.AuditRead, "agent").WithTags("Audit");
    }

    /// <summary>
    /// A policy's warnings as HTTP Warning headers (code 299, "miscellaneous persistent warning", as Kubernetes answers
    /// its admission warnings), set before the answer starts.
    /// </summary>
    private static void AddWarnings(HttpContext http, PolicyWarnings warnings)
    {
        foreach (var warning in warnings.Items)
        {
            var text = new string(warning.Select(ch => ch is < ' ' or > '~' or '"' or '\\' ? ' ' : ch).ToArray());
            http.Response.Headers.Append("Warning", $"299 - \"{text}\"");
        }
    }

    /// <summary>
    /// Removes the team and revokes its keys: a team made again under the same name (for other people) is not the old
    /// one, and the removed team's keys must not act in it. Revoking also ends what runs on them.
    /// </summary>
    private static async Task<TeamInfo> RemoveTeamAsync(string name, TeamStore store, ApiKeyStore keys, CancellationToken ct)
    {
        var removed = await store.RemoveAsync(name, ct);
        foreach (var key in keys.List().Where(k => k.Team == name && k.RevokedAt is null))
        {
            await keys.RevokeAsync(key.Id, ct);
        }

        return removed;
    }

    /// <summary>A team key names a team this agent holds; a global key is made as before.</summary>
    private static Task<ApiKeyCreated> CreateKeyAsync(ApiKeyRequest request, ApiKeyStore store, TeamStore teams, CancellationToken ct)
    {
        if (request.Team is not null)
        {
            teams.Get(TeamStore.ValidateName(request.Team));
        }

        return store.CreateAsync(request.Name, request.Scope, ct, team: request.Team, role: request.Role);
    }

    private static Dictionary<string, string> KeyDetails(ApiKeyRequest request)
    {
        var details = new Dictionary<string, string> { ["scope"] = request.Scope.ToString() };
        if (request.Team is not null)
        {
            details["team"] = request.Team;
            details["role"] = request.Role?.ToString() ?? "";
        }

        return details;
    }

    /// <summary>What a team.put set: the members, and the quota and policy as JSON.</summary>
    private static Dictionary<string, string> TeamDetails(TeamInfo team) => new()
    {
        ["members"] = string.Join(",", (team.Members ?? []).Select(m => $"{m?.User}:{m?.Role}")),
        ["quota"] = AuditTrail.Clip(System.Text.Json.JsonSerializer.Serialize(team.Quota, DetailsJson))!,
        ["policy"] = AuditTrail.Clip(System.Text.Json.JsonSerializer.Serialize(team.Policy, DetailsJson))!,
    };

    private static readonly System.Text.Json.JsonSerializerOptions DetailsJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The body's team under the route's name: a body naming another team is a mistake, not a rename.</summary>
    private static TeamInfo TeamBody(string name, TeamInfo? team)
    {
        if (team is null)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Send the team as JSON: {\"members\": [{\"user\": \"...\", \"role\": \"Owner|Member|Operator|Viewer\"}]}.");
        }

        if (team.Name is { Length: > 0 } body && body != name)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"The body names team '{body}' but the path names '{name}'; send the same name, or leave it out of the body.");
        }

        return team with { Name = name };
    }

    private static Portal.Contracts.AuditTarget KeyTarget(AuditTrail audit, ApiKeyStore store, string keyId) =>
        audit.Target("key", keyId, store.List().FirstOrDefault(k => k.Id == keyId)?.Name);

    internal static ImageInfo ImageView(Portal.Compute.Images.ImageRecord i) => new()
    {
        Id = i.Id,
        Tags = i.Tags,
        SizeBytes = i.SizeBytes,
        CreatedAt = i.CreatedAt,
        Layers = i.Layers,
        Teams = i.Teams,
        RepoDigests = i.RepoDigests,
    };
}
