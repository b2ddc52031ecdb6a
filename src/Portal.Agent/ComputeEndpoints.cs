using System.Text;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Agent;

/// <summary>Body of an exec request on the local socket: run a command to completion and return its output.</summary>
public sealed record ExecRequest
{
    public required IReadOnlyList<string> Command { get; init; }
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
}

public sealed record ExecResult(int ExitCode, string Stdout, string Stderr);

public static class ComputeEndpoints
{
    /// <summary>Health and host info, on every listener.</summary>
    public static void MapHostEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (ComputeHostService compute) => compute.IsReady
            ? Results.Ok(new { status = "ok" })
            : Results.Json(new { status = "starting" }, statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/api/host", async (ComputeHostService compute) => (await compute.Ready).GetHostInfo());
    }

    /// <summary>The container API, on the local socket only until per-agent keys guard the TCP listener.</summary>
    public static void MapContainerEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").AddEndpointFilter(async (context, next) =>
            context.HttpContext.Connection.LocalIpAddress is null // only the unix socket has no IP
                ? await next(context)
                : Results.Problem(ApiErrors.Problem(StatusCodes.Status403Forbidden, "Forbidden", "The container API is served on the agent's local socket (Agent:Socket); the TCP listener serves health and host info.")));

        api.MapGet("/containers", async (ComputeHostService c) => (await c.Ready).Service.ListContainers());
        api.MapPost("/containers", async Task<IResult> (ContainerCreateSpec spec, ComputeHostService c, CancellationToken ct) =>
        {
            var created = await (await c.Ready).Service.CreateContainerAsync(spec, ct);
            return Results.Created($"/api/containers/{created.Id}", created);
        });
        api.MapGet("/containers/{id}", async (string id, ComputeHostService c) => (await c.Ready).Service.GetContainer(id));
        api.MapPost("/containers/{id}/start", async (string id, ComputeHostService c, CancellationToken ct) => await (await c.Ready).Service.StartContainerAsync(id, ct));
        api.MapPost("/containers/{id}/stop", async (string id, double? timeout, ComputeHostService c, CancellationToken ct) =>
            await (await c.Ready).Service.ShutdownContainerAsync(id, timeout is { } t ? TimeSpan.FromSeconds(t) : null, ct));
        api.MapPost("/containers/{id}/terminate", async (string id, ComputeHostService c, CancellationToken ct) => await (await c.Ready).Service.TerminateContainerAsync(id, ct));
        api.MapPost("/containers/{id}/kill", async Task<IResult> (string id, int? signal, ComputeHostService c, CancellationToken ct) =>
        {
            await (await c.Ready).Service.KillContainerAsync(id, signal ?? 9, ct);
            return Results.NoContent();
        });
        api.MapPost("/containers/{id}/wait", async (string id, ComputeHostService c, CancellationToken ct) => await (await c.Ready).Service.WaitAsync(id, ct));
        api.MapDelete("/containers/{id}", async Task<IResult> (string id, bool? force, ComputeHostService c, CancellationToken ct) =>
        {
            await (await c.Ready).Service.RemoveContainerAsync(id, force ?? false, ct);
            return Results.NoContent();
        });
        api.MapGet("/containers/{id}/processes", async (string id, ComputeHostService c, CancellationToken ct) => await (await c.Ready).Service.GetProcessesAsync(id, ct));
        api.MapGet("/containers/{id}/stats", async (string id, ComputeHostService c, CancellationToken ct) => await (await c.Ready).Service.GetStatisticsAsync(id, ct));
        api.MapGet("/containers/{id}/logs", async (string id, int? tail, bool? follow, HttpContext http, ComputeHostService c, CancellationToken ct) =>
        {
            var entries = (await c.Ready).Service.ReadLogsAsync(id, tail, follow ?? false, ct);
            http.Response.ContentType = "text/plain; charset=utf-8";
            await foreach (var entry in entries)
            {
                await http.Response.WriteAsync(entry.Text, ct);
                await http.Response.Body.FlushAsync(ct);
            }
        });
        api.MapPost("/containers/{id}/exec", async Task<ExecResult> (string id, ExecRequest request, ComputeHostService c, CancellationToken ct) =>
        {
            await using var process = await (await c.Ready).Service.ExecAsync(id, new ProcessSpec
            {
                Command = request.Command,
                Environment = request.Environment,
                WorkingDirectory = request.WorkingDirectory,
                User = request.User,
            }, ct);
            var stdout = new StreamReader(process.StandardOutput, Encoding.UTF8).ReadToEndAsync(ct);
            var stderr = new StreamReader(process.StandardError!, Encoding.UTF8).ReadToEndAsync(ct);
            var code = await process.WaitAsync(ct);
            return new ExecResult(code, await stdout, await stderr);
        });
        api.MapGet("/compute-systems", async (string? type, string? owner, string? name, ComputeHostService c) =>
            (await c.Ready).Service.EnumerateComputeSystems(new ComputeSystemQuery
            {
                Types = type is null ? [] : [Enum.TryParse<ComputeSystemType>(type, ignoreCase: true, out var t) ? t : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Unknown compute system type '{type}': use Container or VirtualMachine.")],
                Owners = owner is null ? [] : [owner],
                Names = name is null ? [] : [name],
            }));
        api.MapGet("/images", async (ComputeHostService c) => (await c.Ready).Service.Images.List().Select(i => new ImageInfo
        {
            Id = i.Id,
            Tags = i.Tags,
            SizeBytes = i.SizeBytes,
            CreatedAt = i.CreatedAt,
            Layers = i.Layers,
        }));
    }
}
