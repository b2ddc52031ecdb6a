using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>Container lifecycle and queries: create, list, inspect, start, stop, kill, restart, delete, resize.</summary>
internal static class DockerContainerEndpoints
{
    public static void MapDockerContainers(this IEndpointRouteBuilder app)
    {
        app.MapGet("/containers/json", ListAsync);
        app.MapPost("/containers/create", CreateAsync);
        app.MapGet("/containers/{id}/json", InspectAsync);
        app.MapPost("/containers/{id}/start", StartAsync);
        app.MapPost("/containers/{id}/stop", StopAsync);
        app.MapPost("/containers/{id}/kill", KillAsync);
        app.MapPost("/containers/{id}/restart", RestartAsync);
        app.MapDelete("/containers/{id}", DeleteAsync);
        app.MapPost("/containers/{id}/resize", ResizeAsync);
    }

    private static async Task CreateAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var request = await DockerJson.ReadBodyAsync<DockerCreateRequest>(http).ConfigureAwait(false);
        var spec = DockerCreateMapper.ToSpec(request, DockerQuery.String(http, "name"));
        // A team's isolation policy in Warn mode lets the create run and says why in docker's Warnings.
        using var warnings = Portal.Compute.Teams.PolicyWarnings.Collect();
        var created = await host.Containers.CreateContainerAsync(spec, http.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(http, new DockerIdResponse(created.Id, warnings.Items), StatusCodes.Status201Created).ConfigureAwait(false);
    }

    private static async Task ListAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var filters = ParseFilters(DockerQuery.String(http, "filters"));
        var limit = DockerQuery.Int(http, "limit") ?? -1;
        var all = DockerQuery.Bool(http, "all") || filters.ContainsKey("status") || limit > 0;
        var now = DateTimeOffset.UtcNow;
        IEnumerable<ContainerInfo> containers = host.Containers.ListContainers()
            .Where(c => all || c.State is ContainerState.Running or ContainerState.Stopping)
            .Where(c => Matches(c, filters))
            .OrderByDescending(c => c.CreatedAt);
        if (limit > 0)
        {
            containers = containers.Take(limit);
        }

        await DockerJson.WriteAsync(http, containers.Select(c => DockerContainerView.Summary(c, now)).ToList()).ConfigureAwait(false);
    }

    private static async Task InspectAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var sw = host.Switches.ListSwitches().FirstOrDefault(s => s.Id == container.SwitchId);
        await DockerJson.WriteAsync(http, DockerContainerView.Inspect(container, sw)).ConfigureAwait(false);
    }

    private static async Task StartAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        if (container.State is ContainerState.Running or ContainerState.Stopping)
        {
            http.Response.StatusCode = StatusCodes.Status304NotModified; // dockerd: already started
            return;
        }

        await host.Containers.StartContainerAsync(container.Id, http.RequestAborted).ConfigureAwait(false);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task StopAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var timeout = Timeout(http);
        if (container.State is ContainerState.Created or ContainerState.Stopped)
        {
            http.Response.StatusCode = StatusCodes.Status304NotModified; // dockerd: already stopped
            return;
        }

        await host.Containers.ShutdownContainerAsync(container.Id, timeout, http.RequestAborted).ConfigureAwait(false);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task KillAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var signal = DockerSignals.Parse(DockerQuery.String(http, "signal"), 9);
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        try
        {
            // The compute host refuses a container that is not running, so the refusal is in the audit trail too.
            await host.Containers.KillContainerAsync(container.Id, signal, http.RequestAborted).ConfigureAwait(false);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.InvalidTransition)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"cannot kill container: {container.Name}: container {container.Id} is not running");
        }

        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task RestartAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var timeout = Timeout(http);
        if (container.State is ContainerState.Running or ContainerState.Stopping)
        {
            await host.Containers.ShutdownContainerAsync(container.Id, timeout, http.RequestAborted).ConfigureAwait(false);
        }

        await host.Containers.StartContainerAsync(container.Id, http.RequestAborted).ConfigureAwait(false);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task DeleteAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var force = DockerQuery.Bool(http, "force");
        try
        {
            // The compute host refuses a running container without force, so the refusal is in the audit trail too.
            await host.Containers.RemoveContainerAsync(container.Id, force, http.RequestAborted).ConfigureAwait(false);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.ContainerNotFound)
        {
            // --rm removed it meanwhile: gone is what was asked for
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.InvalidTransition && !force)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"cannot remove container \"/{container.Name}\": container is running: stop the container before removing or force remove");
        }

        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task ResizeAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var (columns, rows) = TerminalSize(http);
        if (http.RequestServices.GetRequiredService<DockerAttachments>().Find(container.Id) is { } attachment)
        {
            await attachment.ResizeAsync(columns, rows, http.RequestAborted).ConfigureAwait(false);
        }

        http.Response.StatusCode = StatusCodes.Status200OK;
    }

    public static (int Columns, int Rows) TerminalSize(HttpContext http)
    {
        var rows = DockerQuery.Int(http, "h") ?? 0;
        var columns = DockerQuery.Int(http, "w") ?? 0;
        if (rows is < 1 or > 1000 || columns is < 1 or > 1000)
        {
            throw DockerApiException.BadParameter("invalid terminal size: h and w must be 1 to 1000");
        }

        return (columns, rows);
    }

    private static TimeSpan? Timeout(HttpContext http) => DockerQuery.Int(http, "t") switch
    {
        null => null,
        < 0 => TimeSpan.FromDays(7), // -1: wait for the container however long it takes
        var t => TimeSpan.FromSeconds(t.Value),
    };

    /// <summary>docker's filters: {"name":["x"]} or the old {"name":{"x":true}}.</summary>
    internal static Dictionary<string, List<string>> ParseFilters(string? json)
    {
        var filters = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(json))
        {
            return filters;
        }

        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw DockerApiException.BadParameter("invalid filters: expected a JSON object such as {\"name\":[\"web\"]}");
            }

            foreach (var property in doc.RootElement.EnumerateObject())
            {
                var values = property.Value.ValueKind switch
                {
                    JsonValueKind.Array => property.Value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw DockerApiException.BadParameter("invalid filters: values must be strings")).ToList(),
                    JsonValueKind.Object => property.Value.EnumerateObject().Select(v => v.Name).ToList(),
                    _ => throw DockerApiException.BadParameter("invalid filters: each filter takes a list of values"),
                };
                filters[property.Name] = values;
            }
        }
        catch (JsonException)
        {
            throw DockerApiException.BadParameter("invalid filters: not valid JSON");
        }

        var unknown = filters.Keys.FirstOrDefault(k => k is not ("name" or "id" or "status" or "label" or "isolation" or "ancestor"));
        return unknown is null ? filters : throw DockerApiException.BadParameter($"invalid filter '{unknown}'");
    }

    private static bool Matches(ContainerInfo c, Dictionary<string, List<string>> filters)
    {
        foreach (var (key, values) in filters)
        {
            var ok = key switch
            {
                "name" => values.Any(v => c.Name.Contains(v.TrimStart('/'), StringComparison.Ordinal)),
                "id" => values.Any(v => c.Id.StartsWith(v, StringComparison.OrdinalIgnoreCase)),
                "status" => values.Contains(DockerFormat.State(c.State)),
                "isolation" => values.Any(v => v.Equals(DockerEngine.IsolationName(c.RuntimeType), StringComparison.OrdinalIgnoreCase)),
                "ancestor" => values.Any(v => v == c.Image || c.ImageId.Contains(v, StringComparison.Ordinal)),
                "label" => values.All(v => v.Split('=', 2) is var kv && c.Labels.TryGetValue(kv[0], out var value) && (kv.Length == 1 || kv[1] == value)),
                _ => true,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
