using System.Globalization;
using System.Text.RegularExpressions;

namespace Portal.Docker;

/// <summary>
/// The docker listener's pipeline: errors in dockerd's shape, the optional /v1.xx prefix (checked against the API
/// versions served), /_ping, the supported endpoints behind the one readiness check (503 until the compute host is
/// ready), explicit 501s for known but unsupported ones, and 404 for the rest.
/// </summary>
internal static partial class DockerApiRoutes
{
    [GeneratedRegex(@"^/v(\d+)\.(\d+)(/.*)$")]
    private static partial Regex VersionPrefix();

    public static void MapDockerApi(this WebApplication app)
    {
        app.Use(DockerErrors.HandleAsync);
        app.Use(DockerAuditCaller.SetAsync);
        app.Use(VersionAsync);
        app.UseRouting();
        app.MapDockerPing();
        var engine = app.MapGroup("").RequireComputeReady();
        engine.MapDockerSystem();
        engine.MapDockerContainers();
        engine.MapDockerContainerStreams();
        engine.MapDockerContainerMetrics();
        engine.MapDockerExec();
        engine.MapDockerImages();
        engine.MapDockerNetworks();
        MapUnsupported(app);
        app.MapFallback(_ => throw new DockerApiException(StatusCodes.Status404NotFound, "page not found"));
    }

    private static Task VersionAsync(HttpContext http, RequestDelegate next)
    {
        http.Response.Headers["Api-Version"] = DockerEngine.ApiVersion;
        http.Response.Headers["Docker-Experimental"] = "false";
        http.Response.Headers["Ostype"] = "linux";
        http.Response.Headers.Server = "Portal-Engine (linux)";
        var match = VersionPrefix().Match(http.Request.Path.Value ?? "");
        if (match.Success)
        {
            var version = new Version(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
            if (version > Version.Parse(DockerEngine.ApiVersion))
            {
                throw DockerApiException.BadParameter($"client version {version} is too new. Maximum supported API version is {DockerEngine.ApiVersion}");
            }

            if (version < Version.Parse(DockerEngine.MinApiVersion))
            {
                throw DockerApiException.BadParameter($"client version {version} is too old. Minimum supported API version is {DockerEngine.MinApiVersion}, please upgrade your client to a newer version");
            }

            http.Request.Path = match.Groups[3].Value;
        }

        return next(http);
    }

    private static void MapUnsupported(WebApplication app)
    {
        (string Pattern, string What)[] unsupported =
        [
            ("/containers/{id}/pause", "pausing containers"),
            ("/containers/{id}/unpause", "unpausing containers"),
            ("/containers/{id}/rename", "renaming containers"),
            ("/containers/{id}/update", "updating container resources"),
            ("/containers/{id}/export", "exporting containers"),
            ("/containers/{id}/changes", "container filesystem changes"),
            ("/containers/{id}/archive", "copying files (docker cp)"),
            ("/containers/{id}/attach/ws", "websocket attach"),
            ("/containers/prune", "container prune"),
            ("/commit", "committing containers"),
            ("/events", "the event stream (docker events)"),
            ("/system/df", "disk usage (docker system df)"),
            ("/build", "building images (docker build)"),
            ("/build/prune", "build cache prune"),
            ("/session", "build sessions"),
            ("/distribution/{**rest}", "registry distribution"),
            ("/networks/prune", "network prune"),
            ("/networks/{id}/{action}", "connecting and disconnecting containers (docker network connect/disconnect)"),
            ("/volumes", "volumes"),
            ("/volumes/create", "creating volumes"),
            ("/volumes/prune", "volume prune"),
            ("/swarm/{**rest}", "swarm mode"),
            ("/swarm", "swarm mode"),
            ("/services/{**rest}", "swarm services"),
            ("/nodes/{**rest}", "swarm nodes"),
            ("/tasks/{**rest}", "swarm tasks"),
            ("/secrets/{**rest}", "swarm secrets"),
            ("/configs/{**rest}", "swarm configs"),
            ("/plugins/{**rest}", "plugins"),
            ("/plugins", "plugins"),
        ];
        foreach (var (pattern, what) in unsupported)
        {
            app.Map(pattern, (RequestDelegate)(_ => throw DockerApiException.NotSupported(what)));
        }

        // `docker inspect NAME` probes volumes after containers, images and networks: they answer "not found".
        app.MapGet("/volumes/{name}", http => throw new DockerApiException(StatusCodes.Status404NotFound, $"get {DockerQuery.Route(http, "name")}: no such volume"));
        app.MapMethods("/volumes/{name}", [HttpMethods.Delete], (RequestDelegate)(_ => throw DockerApiException.NotSupported("volumes")));
    }
}
