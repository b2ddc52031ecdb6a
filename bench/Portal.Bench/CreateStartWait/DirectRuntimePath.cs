using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Bench.CreateStartWait;

/// <summary>
/// The peer: the same OCI runtime binary the library chose, run directly (`runtime --root dir run --bundle b id`) on an
/// equivalent bundle. The rootfs is the busybox image disk, mounted read-only once and used as a read-only root;
/// config.json comes from the library's own <see cref="OciSpecBuilder"/>, so seccomp, capabilities, namespaces, masked
/// paths, devices and the pids limit are the same. Only the runtime's own work is timed: spawn to exit.
/// </summary>
internal sealed class DirectRuntimePath : IAsyncDisposable
{
    private readonly RuntimeChoice _runtime;
    private readonly ImageRecord _image;
    private readonly string _cgroupParent;
    private readonly long _pidsLimit;
    private readonly bool _cgroupNamespace;
    private readonly string _stateRoot;
    private readonly string _rootfs;
    private readonly string _bundles;
    private bool _mounted;
    private string? _current;

    public DirectRuntimePath(RuntimeChoice runtime, ImageRecord image, string privateRoot, string cgroupParent, long pidsLimit, bool cgroupNamespace)
    {
        _runtime = runtime;
        _image = image;
        _cgroupParent = cgroupParent;
        _pidsLimit = pidsLimit;
        _cgroupNamespace = cgroupNamespace;
        _stateRoot = Path.Combine(privateRoot, "runtime");
        _rootfs = Path.Combine(privateRoot, "rootfs");
        _bundles = Path.Combine(privateRoot, "bundles");
    }

    /// <summary>Mounts the image disk once (read-only erofs over an autoclear loop device), as the library mounts it per container.</summary>
    public void Prepare()
    {
        Directory.CreateDirectory(_stateRoot);
        Directory.CreateDirectory(_rootfs);
        Directory.CreateDirectory(_bundles);
        Mounts.MountDisk(_image.DiskPath, _rootfs, "erofs", readOnly: true);
        _mounted = true;
    }

    /// <summary>Runs /bin/true once; returns milliseconds from spawning the runtime to its exit. Bundle writing and delete are untimed.</summary>
    public async Task<double> RunOnceAsync(int index, CancellationToken ct)
    {
        var id = $"peer-{index.ToString("D4", CultureInfo.InvariantCulture)}";
        var bundle = Path.Combine(_bundles, id);
        Directory.CreateDirectory(bundle);
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), BuildSpec(id).ToJsonString(), ct);
        _current = id;
        try
        {
            var watch = Stopwatch.StartNew();
            var result = await HostCommand.RunAsync(_runtime.Path, ["--root", _stateRoot, "run", "--bundle", bundle, id], ct);
            var elapsed = watch.Elapsed;
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"Peer path: {_runtime.Name} run {id} exited {result.ExitCode}, expected 0: {OciRuntime.Clean(result.Error + result.Output)}");
            }

            return elapsed.TotalMilliseconds;
        }
        finally
        {
            await DeleteAsync(id);
            Directory.Delete(bundle, recursive: true);
        }
    }

    private JsonObject BuildSpec(string id)
    {
        var spec = OciSpecBuilder.Build(new OciSpecRequest
        {
            Hostname = id,
            RootfsPath = _rootfs,
            CgroupsPath = $"/{_cgroupParent}/{id}",
            Args = ["/bin/true"],
            Env = EnvironmentBuilder.Merge([EnvironmentBuilder.DefaultPath], _image.Config.Env, [$"HOSTNAME={id}"]),
            Cwd = string.IsNullOrEmpty(_image.Config.WorkingDir) ? "/" : _image.Config.WorkingDir,
            User = ContainerUser.Resolve(_image.Config.User, _rootfs),
            Limits = new ContainerLimits(),
            DefaultPidsLimit = _pidsLimit,
            CgroupNamespace = _cgroupNamespace,
        });

        // The shared image mount is read-only; the library's root is a writable overlay, which /bin/true never writes to.
        spec["root"]!["readonly"] = true;
        return spec;
    }

    private async Task DeleteAsync(string id)
    {
        // `run` removes a container that exited; this also covers one interrupted half way.
        await HostCommand.RunAsync(_runtime.Path, ["--root", _stateRoot, "delete", "--force", id], CancellationToken.None);
        _current = null;
    }

    /// <summary>Deletes a container an interrupted run left and unmounts the rootfs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_current is { } id)
        {
            await DeleteAsync(id);
        }

        if (_mounted)
        {
            Mounts.Unmount(_rootfs);
            _mounted = false;
        }
    }
}
