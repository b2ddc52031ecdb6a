using System.Text;
using Portal.Agent.Auth;
using Portal.Agent.Hub;
using Portal.Compute;
using Portal.Compute.Containers;
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

        var api = app.MapGroup("/api").RequireAuthorization(AgentPolicies.Read);
        api.MapGet("/host", async (ComputeHostService c) => (await c.Ready).GetHostInfo());
        api.MapGet("/host/processes", async (string? match, ComputeHostService c) => (await Service(c)).FindHostProcesses(match));

        api.MapGet("/stats", async (ComputeHostService c, CancellationToken ct) => await (await Service(c)).GetAllStatisticsAsync(ct)).WithTags("Containers");
        var containers = api.MapGroup("/containers").WithTags("Containers");
        containers.MapGet("/", async (ComputeHostService c) => (await Service(c)).ListContainers().Select(ContainerCommands.View));
        containers.MapGet("/{id}", async (string id, ComputeHostService c) => ContainerCommands.View((await Service(c)).GetContainer(id)));
        containers.MapGet("/{id}/processes", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).GetProcessesAsync(id, ct));
        containers.MapGet("/{id}/isolation", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).GetIsolationViewAsync(id, ct));
        containers.MapGet("/{id}/stats", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).GetStatisticsAsync(id, ct));
        containers.MapGet("/{id}/logs", async (string id, int? tail, bool? follow, HttpContext http, ComputeHostService c, CancellationToken ct) =>
        {
            var entries = (await Service(c)).ReadLogsAsync(id, tail, follow ?? false, ct);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await foreach (var entry in entries)
            {
                await http.Response.WriteAsync(entry.Text, ct);
                await http.Response.Body.FlushAsync(ct);
            }
        });
        containers.MapPost("/{id}/wait", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).WaitAsync(id, ct));

        var operate = containers.MapGroup("").RequireAuthorization(AgentPolicies.Operate);
        operate.MapPost("/", async Task<IResult> (ContainerCreateSpec spec, ComputeHostService c, CancellationToken ct) =>
        {
            var created = await (await Service(c)).CreateContainerAsync(spec, ct);
            return Results.Created($"/api/containers/{created.Id}", created);
        });
        operate.MapPost("/{id}/start", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).StartContainerAsync(id, ct));
        operate.MapPost("/{id}/stop", async (string id, double? timeout, ComputeHostService c, CancellationToken ct) =>
            await (await Service(c)).ShutdownContainerAsync(id, Seconds(timeout), ct));
        operate.MapPost("/{id}/restart", async (string id, double? timeout, ComputeHostService c, CancellationToken ct) =>
            await (await Service(c)).RestartContainerAsync(id, Seconds(timeout), ct));
        operate.MapPost("/{id}/terminate", async (string id, ComputeHostService c, CancellationToken ct) => await (await Service(c)).TerminateContainerAsync(id, ct));
        operate.MapPost("/{id}/kill", async Task<IResult> (string id, int? signal, ComputeHostService c, CancellationToken ct) =>
        {
            await (await Service(c)).KillContainerAsync(id, signal ?? 9, ct);
            return Results.NoContent();
        });
        operate.MapPost("/{id}/convert", async (string id, RuntimeType runtimeType, bool? restart, ComputeHostService c, CancellationToken ct) =>
            await (await Service(c)).ConvertContainerAsync(id, runtimeType, restart ?? false, null, ct));
        operate.MapDelete("/{id}", async Task<IResult> (string id, bool? force, ComputeHostService c, CancellationToken ct) =>
        {
            await (await Service(c)).RemoveContainerAsync(id, force ?? false, ct);
            return Results.NoContent();
        });
        operate.MapPost("/{id}/exec", async Task<ExecResult> (string id, ExecStart request, ComputeHostService c, CancellationToken ct) =>
        {
            if (request.Tty || request.Stdin)
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, "REST exec runs a command to completion without a terminal or input; use the hub's Exec stream (or docker exec -it) for interactive processes.");
            }

            await using var process = await (await Service(c)).ExecAsync(id, ProcessStreams.Spec(request), ct);
            var stdout = new StreamReader(process.StandardOutput, Encoding.UTF8).ReadToEndAsync(ct);
            var stderr = new StreamReader(process.StandardError!, Encoding.UTF8).ReadToEndAsync(ct);
            var code = await process.WaitAsync(ct);
            return new ExecResult(code, await stdout, await stderr);
        });

        api.MapGet("/compute-systems", async (string? type, string? owner, string? name, ComputeHostService c) =>
            (await Service(c)).EnumerateComputeSystems(new ComputeSystemQuery
            {
                Types = type is null ? [] : [Enum.TryParse<ComputeSystemType>(type, ignoreCase: true, out var t) ? t : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown compute system type '{type}': use Container or VirtualMachine.")],
                Owners = owner is null ? [] : [owner],
                Names = name is null ? [] : [name],
            })).WithTags("Compute systems");
        var images = api.MapGroup("/images").WithTags("Images");
        images.MapGet("/", async (ComputeHostService c) => (await Service(c)).Images.List().Select(ImageView));
        var imageAdmin = images.MapGroup("").RequireAuthorization(AgentPolicies.Operate);
        imageAdmin.MapPost("/", async Task<IResult> (string? tag, HttpContext http, ComputeHostService c, CancellationToken ct) =>
        {
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = null; // the image store bounds what an archive may unpack
            }

            var imported = await (await Service(c)).Images.ImportAsync(http.Request.Body, string.IsNullOrWhiteSpace(tag) ? null : tag, null, ct);
            return Results.Json(imported.Select(ImageView).ToList(), statusCode: StatusCodes.Status201Created);
        }).Accepts<Stream>("application/x-tar", "application/gzip", "application/octet-stream");
        // A catch-all: references may hold slashes (registry:5000/team/app:1).
        imageAdmin.MapDelete("/{**reference}", async Task<IResult> (string reference, ComputeHostService c, CancellationToken ct) =>
        {
            var service = await Service(c);
            var image = service.Images.Resolve(reference);
            // One of several tags only loses that tag, as with docker rmi; the image stays for its other names.
            var tag = Portal.Compute.Images.ImageReference.TryParse(reference)?.ToString();
            var untagOnly = tag is not null && image.Tags.Count > 1 && image.Tags.Contains(tag, StringComparer.Ordinal);
            var users = service.ListContainers().Where(ci => ci.ImageId == image.Id).Select(ci => ci.Name).ToList();
            if (!untagOnly && users.Count > 0)
            {
                throw new ComputeException(ComputeErrorCode.ImageInUse, $"Image '{reference}' is used by container(s) {string.Join(", ", users.Select(u => $"'{u}'"))}: remove them first.");
            }

            await service.Images.RemoveAsync(reference, ct);
            return Results.NoContent();
        });

        var switches = api.MapGroup("/switches").WithTags("Switches");
        switches.MapGet("/", async (ComputeHostService c) => (await Service(c)).ListSwitches());
        switches.MapGet("/{name}", async (string name, ComputeHostService c) => (await Service(c)).GetSwitch(name));
        switches.MapPost("/", async Task<IResult> (SwitchCreateSpec spec, ComputeHostService c, CancellationToken ct) =>
        {
            var created = await (await Service(c)).CreateSwitchAsync(spec, ct);
            return Results.Created($"/api/switches/{created.Id}", created);
        }).RequireAuthorization(AgentPolicies.Operate);
        switches.MapDelete("/{name}", async Task<IResult> (string name, ComputeHostService c, CancellationToken ct) =>
        {
            await (await Service(c)).RemoveSwitchAsync(name, ct);
            return Results.NoContent();
        }).RequireAuthorization(AgentPolicies.Operate);

        var keys = api.MapGroup("/keys").RequireAuthorization(AgentPolicies.Admin).WithTags("API keys");
        keys.MapGet("/", (ApiKeyStore store) => store.List());
        keys.MapPost("/", async (ApiKeyRequest request, ApiKeyStore store, CancellationToken ct) => await store.CreateAsync(request.Name, request.Scope, ct));
        keys.MapPost("/{keyId}/rotate", async (string keyId, ApiKeyStore store, CancellationToken ct) => await store.RotateAsync(keyId, ct));
        keys.MapDelete("/{keyId}", async (string keyId, ApiKeyStore store, CancellationToken ct) => await store.RevokeAsync(keyId, ct));
    }

    private static ImageInfo ImageView(Portal.Compute.Images.ImageRecord i) => new()
    {
        Id = i.Id,
        Tags = i.Tags,
        SizeBytes = i.SizeBytes,
        CreatedAt = i.CreatedAt,
        Layers = i.Layers,
    };

    private static async Task<ComputeService> Service(ComputeHostService compute) => (await compute.Ready).Service;

    private static TimeSpan? Seconds(double? seconds) => seconds is { } s ? TimeSpan.FromSeconds(s) : null;
}
