using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Compute.Images;
using Portal.Compute.Registry;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>docker images, image inspect, load, tag and rmi. Image names may hold slashes, so the name is taken from the path's rest.</summary>
internal static class DockerImageEndpoints
{
    public static void MapDockerImages(this IEndpointRouteBuilder app)
    {
        app.MapGet("/images/json", ListAsync);
        app.MapPost("/images/load", LoadAsync);
        app.MapGet("/images/{**name}", GetAsync);
        app.MapPost("/images/{**name}", PostAsync);
        app.MapDelete("/images/{**name}", DeleteAsync);
    }

    private static async Task ListAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var containers = host.Containers.ListContainers();
        var images = host.Images.List().Select(i => new DockerImageSummary
        {
            Id = i.Id,
            RepoTags = i.Tags,
            RepoDigests = i.RepoDigests,
            Created = i.CreatedAt.ToUnixTimeSeconds(),
            Size = i.SizeBytes,
            Containers = containers.Count(c => c.ImageId == i.Id),
        }).ToList();
        await DockerJson.WriteAsync(http, images).ConfigureAwait(false);
    }

    private static async Task GetAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var path = DockerQuery.Route(http, "name");
        if (path.EndsWith("/json", StringComparison.Ordinal))
        {
            var image = Resolve(host, path[..^"/json".Length]);
            await DockerJson.WriteAsync(http, new DockerImageInspect
            {
                Id = image.Id,
                RepoTags = image.Tags,
                RepoDigests = image.RepoDigests,
                Created = DockerFormat.Time(image.CreatedAt),
                Size = image.SizeBytes,
                Config = new DockerImageConfig
                {
                    Cmd = image.Config.Cmd,
                    Entrypoint = image.Config.Entrypoint.Count == 0 ? null : image.Config.Entrypoint,
                    Env = image.Config.Env,
                    WorkingDir = image.Config.WorkingDir ?? "",
                    User = image.Config.User ?? "",
                },
                RootFS = new DockerRootFs("layers", image.Layers),
            }).ConfigureAwait(false);
            return;
        }

        throw path switch
        {
            _ when path.EndsWith("/history", StringComparison.Ordinal) => DockerApiException.NotSupported("image history"),
            "get" => DockerApiException.NotSupported("saving images (docker save)"),
            _ when path.EndsWith("/get", StringComparison.Ordinal) => DockerApiException.NotSupported("saving images (docker save)"),
            "search" => DockerApiException.NotSupported("searching registries (docker search)"),
            _ => new DockerApiException(StatusCodes.Status404NotFound, "page not found"),
        };
    }

    private static async Task PostAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var path = DockerQuery.Route(http, "name");
        if (path.EndsWith("/tag", StringComparison.Ordinal))
        {
            var image = Resolve(host, path[..^"/tag".Length]);
            var repo = DockerQuery.String(http, "repo") ?? throw DockerApiException.BadParameter("repository name (repo) is required");
            var tag = DockerQuery.String(http, "tag") ?? "latest";
            if (repo.Contains('@') || ImageReference.TryParse($"{repo}:{tag}") is not { } reference)
            {
                throw DockerApiException.BadParameter($"invalid reference format: \"{repo}:{tag}\"");
            }

            await host.Images.TagAsync(image.Id, reference.ToString(), http.RequestAborted).ConfigureAwait(false);
            http.Response.StatusCode = StatusCodes.Status201Created;
            return;
        }

        if (path == "create" && DockerQuery.String(http, "fromSrc") is null)
        {
            await PullAsync(http, host).ConfigureAwait(false);
            return;
        }

        throw path switch
        {
            "create" => DockerApiException.NotSupported("importing a root file system (docker import)"),
            "prune" => DockerApiException.NotSupported("image prune"),
            _ when path.EndsWith("/push", StringComparison.Ordinal) => DockerApiException.NotSupported("pushing images (docker push)"),
            _ => new DockerApiException(StatusCodes.Status404NotFound, "page not found"),
        };
    }

    /// <summary>
    /// docker rmi: a name that is one of several tags only untags; otherwise the image goes, unless a container uses it
    /// (409; force removes it from stopped containers' use but never from a running one's), as dockerd decides.
    /// </summary>
    private static async Task DeleteAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var reference = DockerQuery.Route(http, "name");
        var force = DockerQuery.Bool(http, "force");
        var image = Resolve(host, reference);
        var tag = ImageReference.TryParse(reference)?.ToString();
        var byTag = tag is not null && image.Tags.Contains(tag);
        if (byTag && image.Tags.Count > 1)
        {
            await host.Images.RemoveAsync(tag!, force, http.RequestAborted).ConfigureAwait(false);
            await DockerJson.WriteAsync(http, new[] { new DockerImageDeleteItem { Untagged = tag } }).ConfigureAwait(false);
            return;
        }

        var users = host.Containers.ListContainers().Where(c => c.ImageId == image.Id).ToList();
        if (users.FirstOrDefault(c => c.State is ContainerState.Running or ContainerState.Stopping) is { } running)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"conflict: unable to delete {image.ShortId} (cannot be forced) - image is being used by running container {running.Id[..12]}");
        }

        if (!force && users.Count > 0)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, byTag
                ? $"conflict: unable to remove repository reference \"{reference}\" (must force) - container {users[0].Id[..12]} is using its referenced image {image.ShortId}"
                : $"conflict: unable to delete {image.ShortId} (must be forced) - image is being used by stopped container {users[0].Id[..12]}");
        }

        if (!force && !byTag && image.Tags.Count > 1)
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"conflict: unable to delete {image.ShortId} (must be forced) - image is referenced in multiple repositories");
        }

        await host.Images.RemoveAsync(image.Id, force, http.RequestAborted).ConfigureAwait(false);
        var items = image.Tags.Select(t => new DockerImageDeleteItem { Untagged = t }).Append(new DockerImageDeleteItem { Deleted = image.Id }).ToList();
        await DockerJson.WriteAsync(http, items).ConfigureAwait(false);
    }

    /// <summary>
    /// docker pull (and the pull `docker run` does for a missing image): fromImage and tag (or a digest) name the image;
    /// X-Registry-Auth carries the client's credential for the registry. Progress streams as dockerd's JSON messages,
    /// one line per layer step, which the docker CLI draws as per-layer bars; a failure before the first line is a plain
    /// error with its status (404 for an image the registry does not have).
    /// </summary>
    private static async Task PullAsync(HttpContext http, IComputeHost host)
    {
        var from = DockerQuery.String(http, "fromImage") ?? throw DockerApiException.BadParameter("fromImage is required: the image to pull, e.g. fromImage=nginx&tag=1.27");
        var tag = DockerQuery.String(http, "tag");
        var reference = string.IsNullOrEmpty(tag) ? from : tag.StartsWith("sha256:", StringComparison.Ordinal) ? $"{from}@{tag}" : $"{from}:{tag}";
        if (DockerQuery.String(http, "platform") is { Length: > 0 } platform)
        {
            var (architecture, _) = ManifestDocument.HostPlatform();
            if (!platform.StartsWith($"linux/{architecture}", StringComparison.Ordinal) && platform != "linux")
            {
                throw DockerApiException.BadParameter($"this host runs linux/{architecture} images only; '{platform}' was asked for");
            }
        }

        var credential = DockerRegistryAuth.Parse(http.Request.Headers["X-Registry-Auth"].ToString());
        var progress = Channel.CreateUnbounded<PullProgress>(new UnboundedChannelOptions { SingleReader = true });
        var pull = PullAsync(host, reference, credential, progress.Writer, http.RequestAborted);
        await foreach (var p in progress.Reader.ReadAllAsync(http.RequestAborted).ConfigureAwait(false))
        {
            await WriteProgressAsync(http, new DockerProgressMessage
            {
                Status = p.Status == "Waiting" ? "Pulling fs layer" : p.Status,
                Id = p.Id,
                ProgressDetail = p.Current is { } current ? new DockerProgressDetail(current, p.Total) : null,
            }).ConfigureAwait(false);
        }

        try
        {
            await pull.ConfigureAwait(false);
        }
        catch (ComputeException e) when (http.Response.HasStarted)
        {
            await WriteProgressAsync(http, new DockerProgressMessage { Error = e.Message, ErrorDetail = new DockerErrorDetail(e.Message) }).ConfigureAwait(false);
        }
    }

    private static async Task PullAsync(IComputeHost host, string reference, RegistryCredential? credential, ChannelWriter<PullProgress> progress, CancellationToken ct)
    {
        try
        {
            await host.Images.PullAsync(reference, null, credential, new SynchronousProgress<PullProgress>(p => progress.TryWrite(p)), ct).ConfigureAwait(false);
        }
        finally
        {
            progress.TryComplete();
        }
    }

    /// <summary>docker load: the body is a docker save (or OCI) archive; progress and the loaded names stream back as JSON lines.</summary>
    private static async Task LoadAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null; // the image store bounds what an archive may unpack
        }

        var quiet = DockerQuery.Bool(http, "quiet");
        var progress = Channel.CreateUnbounded<ImageImportProgress>(new UnboundedChannelOptions { SingleReader = true });
        var import = ImportAsync(host, http.Request.Body, progress.Writer, http.RequestAborted);
        var lastStage = "";
        var lastReport = DateTimeOffset.MinValue;
        await foreach (var p in progress.Reader.ReadAllAsync(http.RequestAborted).ConfigureAwait(false))
        {
            var now = DateTimeOffset.UtcNow;
            if (quiet || (p.Stage == lastStage && now - lastReport < TimeSpan.FromMilliseconds(250)))
            {
                continue;
            }

            (lastStage, lastReport) = (p.Stage, now);
            await WriteProgressAsync(http, new DockerProgressMessage
            {
                Status = StageText(p.Stage),
                Id = "archive",
                ProgressDetail = new DockerProgressDetail(p.BytesDone, p.BytesTotal),
            }).ConfigureAwait(false);
        }

        IReadOnlyList<ImageRecord> loaded;
        try
        {
            loaded = await import.ConfigureAwait(false);
        }
        catch (ComputeException e) when (http.Response.HasStarted)
        {
            await WriteProgressAsync(http, new DockerProgressMessage { Error = e.Message, ErrorDetail = new DockerErrorDetail(e.Message) }).ConfigureAwait(false);
            return;
        }

        foreach (var image in loaded)
        {
            var lines = image.Tags.Count > 0 ? image.Tags.Select(t => $"Loaded image: {t}\n") : [$"Loaded image ID: {image.Id}\n"];
            foreach (var line in lines)
            {
                await WriteProgressAsync(http, new DockerProgressMessage { Stream = line }).ConfigureAwait(false);
            }
        }
    }

    private static async Task<IReadOnlyList<ImageRecord>> ImportAsync(IComputeHost host, Stream body, ChannelWriter<ImageImportProgress> progress, CancellationToken ct)
    {
        try
        {
            return await host.Images.ImportAsync(body, null, new SynchronousProgress<ImageImportProgress>(p => progress.TryWrite(p)), ct).ConfigureAwait(false);
        }
        finally
        {
            progress.TryComplete();
        }
    }

    private static async Task WriteProgressAsync(HttpContext http, DockerProgressMessage message)
    {
        if (!http.Response.HasStarted)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/json";
        }

        await http.Response.WriteAsync(JsonSerializer.Serialize(message, DockerJson.Options) + "\n", http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static string StageText(string stage) => stage switch
    {
        "read" => "Reading archive",
        "verify" => "Verifying layers",
        "extract" => "Extracting layers",
        "build-disk" => "Building image disk",
        "done" => "Done",
        _ => stage,
    };

    private static ImageRecord Resolve(IComputeHost host, string reference)
    {
        try
        {
            return host.Images.Resolve(reference);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.ImageNotFound)
        {
            throw new DockerApiException(StatusCodes.Status404NotFound, $"No such image: {reference}");
        }
    }
}
