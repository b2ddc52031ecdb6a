using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>/_ping, /version and /info: what `docker version` and `docker info` print, in this engine's terms.</summary>
internal static class DockerSystemEndpoints
{
    private static readonly string EngineVersion =
        typeof(DockerSystemEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>/_ping needs no compute host: the CLI's first call answers at once, also while the engine starts.</summary>
    public static void MapDockerPing(this IEndpointRouteBuilder app) =>
        app.MapMethods("/_ping", [HttpMethods.Get, HttpMethods.Head], PingAsync);

    public static void MapDockerSystem(this IEndpointRouteBuilder app)
    {
        app.MapGet("/version", VersionAsync);
        app.MapGet("/info", InfoAsync);
        app.MapPost("/auth", LoginAsync);
    }

    private static async Task PingAsync(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-cache, no-store, must-revalidate";
        http.Response.Headers.Pragma = "no-cache";
        http.Response.Headers["Builder-Version"] = "";
        http.Response.Headers["Swarm"] = "inactive";
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.StatusCode = StatusCodes.Status200OK;
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            await http.Response.WriteAsync("OK", http.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// docker login: the credential is checked against the registry (its token server or Basic); the CLI keeps it and sends
    /// it with each pull (X-Registry-Auth). A serveraddress like https://index.docker.io/v1/ means Docker Hub.
    /// </summary>
    private static async Task LoginAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var body = await DockerJson.ReadBodyAsync<DockerAuthRequest>(http).ConfigureAwait(false);
        if (string.IsNullOrEmpty(body.Username) || string.IsNullOrEmpty(body.Password))
        {
            throw DockerApiException.BadParameter("a user name and a password are required to log in");
        }

        var address = body.ServerAddress ?? string.Empty;
        var registry = Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri.Authority : address.TrimEnd('/');
        if (registry is "" or "index.docker.io" or "registry-1.docker.io")
        {
            registry = Portal.Compute.Registry.RegistryReference.DockerHub;
        }

        try
        {
            await host.Images.LoginAsync(registry, new Portal.Compute.Registry.RegistryCredential(body.Username, body.Password), http.RequestAborted).ConfigureAwait(false);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.RegistryAuthenticationFailed)
        {
            throw new DockerApiException(StatusCodes.Status401Unauthorized, e.Message); // as dockerd answers a failed login
        }

        await DockerJson.WriteAsync(http, new DockerAuthResponse { Status = "Login Succeeded" }).ConfigureAwait(false);
    }

    private static async Task VersionAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var info = host.GetHostInfo();
        var arch = Arch();
        await DockerJson.WriteAsync(http, new DockerVersionResponse
        {
            Platform = new DockerPlatform("Portal Engine"),
            Components =
            [
                new DockerComponent("Engine", EngineVersion, new Dictionary<string, string>
                {
                    ["ApiVersion"] = DockerEngine.ApiVersion,
                    ["MinAPIVersion"] = DockerEngine.MinApiVersion,
                    ["Os"] = "linux",
                    ["Arch"] = arch,
                    ["KernelVersion"] = info.Kernel,
                    ["Isolation"] = string.Join(",", info.RuntimeTypes.Select(DockerEngine.IsolationName)),
                    ["GitCommit"] = "",
                    ["GoVersion"] = RuntimeInformation.FrameworkDescription,
                    ["BuildTime"] = "",
                    ["Experimental"] = "false",
                }),
                new DockerComponent(info.ProcessRuntime.Name, info.ProcessRuntime.Version, new Dictionary<string, string> { ["Path"] = info.ProcessRuntime.Path }),
            ],
            Version = EngineVersion,
            ApiVersion = DockerEngine.ApiVersion,
            MinAPIVersion = DockerEngine.MinApiVersion,
            GitCommit = "",
            GoVersion = RuntimeInformation.FrameworkDescription,
            Os = "linux",
            Arch = arch,
            KernelVersion = info.Kernel,
            BuildTime = "",
        }).ConfigureAwait(false);
    }

    private static async Task InfoAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var info = host.GetHostInfo();
        var containers = host.Containers.ListContainers();
        var runtimes = new Dictionary<string, DockerRuntime> { [info.ProcessRuntime.Name] = new(info.ProcessRuntime.Path) };
        if (info.RuntimeTypes.Contains(RuntimeType.HyperV))
        {
            runtimes["portal-vm"] = new DockerRuntime("qemu-system-x86_64");
        }

        await DockerJson.WriteAsync(http, new DockerInfoResponse
        {
            ID = Environment.MachineName,
            Containers = containers.Count,
            ContainersRunning = containers.Count(c => c.State is ContainerState.Running or ContainerState.Stopping),
            ContainersStopped = containers.Count(c => c.State is ContainerState.Stopped or ContainerState.Created),
            Images = info.Images,
            Driver = "erofs+ext4",
            DriverStatus = [["Image disks", "erofs (read-only)"], ["Container disks", "ext4 (sparse scratch)"]],
            Plugins = new DockerPlugins([], [], [], ["json-file", "local", "none"]),
            SystemTime = DateTimeOffset.Now.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffffzzz", System.Globalization.CultureInfo.InvariantCulture),
            CgroupDriver = "cgroupfs",
            CgroupVersion = info.CgroupMode == "v2" ? "2" : "1",
            KernelVersion = info.Kernel,
            OperatingSystem = info.OperatingSystem,
            OSVersion = "",
            Architecture = Arch() == "amd64" ? "x86_64" : Arch(),
            IndexServerAddress = "",
            NCPU = info.Cpus,
            MemTotal = info.MemoryBytes,
            DockerRootDir = host.Images.Root,
            Name = info.Hostname,
            ServerVersion = EngineVersion,
            Runtimes = runtimes,
            DefaultRuntime = info.ProcessRuntime.Name,
            Swarm = new DockerSwarm("", "", "inactive", false, ""),
            Isolation = DockerEngine.IsolationName(host.Containers.DefaultRuntimeType),
            Isolations = info.RuntimeTypes.Select(DockerEngine.IsolationName).ToList(),
            ContainerdCommit = new DockerCommit(""),
            RuncCommit = new DockerCommit(info.ProcessRuntime.Version),
            InitCommit = new DockerCommit(""),
        }).ConfigureAwait(false);
    }

    private static string Arch() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
