using System.Diagnostics;
using System.Text.Json;
using Portal.Compute.Linux;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>The OCI runtime binary this host uses (crun or runc), and the calls we make to it.</summary>
internal sealed class OciRuntime
{
    public OciRuntime(RuntimeChoice choice, string stateRoot)
    {
        Choice = choice;
        StateRoot = stateRoot;
    }

    public RuntimeChoice Choice { get; }

    public string Path => Choice.Path;

    /// <summary>The runtime's --root: where it keeps its per-container state (tmpfs, so it ends with the boot).</summary>
    public string StateRoot { get; }

    public IReadOnlyList<string> GlobalArgs => ["--root", StateRoot];

    public Task<HostCommand.Result> RunAsync(CancellationToken ct, params string[] args) =>
        HostCommand.RunAsync(Path, GlobalArgs.Concat(args), ct);

    public async Task StartAsync(string id, CancellationToken ct)
    {
        if (await TryReleaseThroughExecFifoAsync(id, ct).ConfigureAwait(false))
        {
            return;
        }

        var result = await RunAsync(ct, "start", id).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"{Choice.Name} could not start container {id}: {Clean(result.Error)}");
        }
    }

    public async Task KillAsync(string id, int signal, CancellationToken ct)
    {
        var result = await RunAsync(ct, "kill", id, signal.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
        if (!result.Succeeded && await StatusAsync(id, ct).ConfigureAwait(false) is "running" or "created" or "paused")
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"{Choice.Name} could not signal container {id}: {Clean(result.Error)}");
        }
    }

    /// <summary>
    /// What `runc start` (and crun's) does, without the cost of starting another runtime process: the created
    /// container's init waits until someone opens its exec fifo for reading, and the fifo's removal marks it started.
    /// Falls back to the runtime's own start when the fifo is not where runc and crun keep it.
    /// </summary>
    private async Task<bool> TryReleaseThroughExecFifoAsync(string id, CancellationToken ct)
    {
        var fifo = System.IO.Path.Combine(StateRoot, id, "exec.fifo");
        if (!File.Exists(fifo))
        {
            return false;
        }

        try
        {
            await using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            var buffer = new byte[1];
            var read = await Task.Factory.StartNew(() => stream.Read(buffer, 0, 1), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            File.Delete(fifo);
            return read == 1 && buffer[0] == (byte)'0';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The runtime's status of the container ("created", "running", "stopped"), or null when it does not know it.</summary>
    public async Task<string?> StatusAsync(string id, CancellationToken ct)
    {
        var result = await RunAsync(ct, "state", id).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(result.Output);
        return doc.RootElement.TryGetProperty("status", out var status) ? status.GetString() : null;
    }

    /// <summary>Deletes the runtime's state and cgroup of a container; a container it never knew is fine.</summary>
    public Task DeleteAsync(string id, CancellationToken ct) => RunAsync(ct, "delete", "--force", id);

    internal static string Clean(string error)
    {
        // runc and crun log JSON-ish lines ("time=... level=error msg=..."); keep the message readable.
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no error output" : string.Join(" ", lines.TakeLast(3));
    }

    /// <summary>
    /// What a failed create says about who is at fault, as dockerd decides it (translateContainerdStartErr): a program
    /// that is missing, not executable or a directory, or a mount onto the wrong kind of file, is the container's
    /// configuration (InvalidArgument, 400); anything else is the runtime's failure.
    /// </summary>
    internal static ComputeErrorCode CreateFailureCode(string message) =>
        new[] { "executable file not found", "no such file or directory", "permission denied", "is a directory", "not a directory", "exec format error" }
            .Any(m => message.Contains(m, StringComparison.OrdinalIgnoreCase))
            ? ComputeErrorCode.InvalidArgument
            : ComputeErrorCode.RuntimeFailure;

    /// <summary>
    /// Picks the runtime by trying: each candidate runs a real container (with cgroups, namespaces and our seccomp profile);
    /// the first that succeeds wins and the reason records why the others did not.
    /// </summary>
    public static async Task<OciRuntime> SelectAsync(IReadOnlyList<string> candidates, string busyboxPath, string workRoot, string stateRoot, CgroupHost cgroups, string cgroupParent, CancellationToken ct)
    {
        var failures = new List<string>();
        foreach (var candidate in candidates)
        {
            var path = Which(candidate);
            if (path is null)
            {
                failures.Add($"{candidate}: not installed");
                continue;
            }

            var version = (await HostCommand.RunAsync(path, ["--version"], ct).ConfigureAwait(false)).Output.Split('\n')[0].Trim();
            var probe = await ProbeAsync(path, busyboxPath, workRoot, stateRoot, cgroups, cgroupParent, ct).ConfigureAwait(false);
            if (probe.Error is null)
            {
                var reason = failures.Count == 0
                    ? $"first choice; a probe container ran in {probe.Elapsed.TotalMilliseconds:F0} ms"
                    : $"{string.Join("; ", failures)}; {candidate} ran a probe container in {probe.Elapsed.TotalMilliseconds:F0} ms";
                return new OciRuntime(new RuntimeChoice { Name = System.IO.Path.GetFileName(path), Path = path, Version = version, Reason = reason }, stateRoot);
            }

            failures.Add($"{candidate} failed the probe: {probe.Error}");
        }

        throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"No OCI runtime can run containers on this host ({string.Join("; ", failures)}). Install crun or runc: ./deploy/portal up does.");
    }

    private static async Task<(string? Error, TimeSpan Elapsed)> ProbeAsync(string runtime, string busyboxPath, string workRoot, string stateRoot, CgroupHost cgroups, string cgroupParent, CancellationToken ct)
    {
        var id = $"portal-probe-{Guid.NewGuid():N}"[..24];
        var bundle = System.IO.Path.Combine(workRoot, id);
        var rootfs = System.IO.Path.Combine(bundle, "rootfs");
        try
        {
            Directory.CreateDirectory(System.IO.Path.Combine(rootfs, "bin"));
            foreach (var dir in new[] { "proc", "sys", "dev", "tmp" })
            {
                Directory.CreateDirectory(System.IO.Path.Combine(rootfs, dir));
            }

            File.Copy(busyboxPath, System.IO.Path.Combine(rootfs, "bin", "busybox")); // keeps its 0755 mode
            var spec = OciSpecBuilder.Build(new OciSpecRequest
            {
                Hostname = "probe",
                RootfsPath = rootfs,
                CgroupsPath = $"/{cgroupParent}/{id}",
                Args = ["/bin/busybox", "true"],
                Env = ["PATH=/bin"],
                Cwd = "/",
                User = ContainerUser.Root,
                Limits = new ContainerLimits(),
                DefaultPidsLimit = 16,
                CgroupNamespace = cgroups.Mode == CgroupMode.V2,
            });
            await File.WriteAllTextAsync(System.IO.Path.Combine(bundle, "config.json"), spec.ToJsonString(), ct).ConfigureAwait(false);
            var watch = Stopwatch.StartNew();
            var result = await HostCommand.RunAsync(runtime, ["--root", stateRoot, "run", "--bundle", bundle, id], ct).ConfigureAwait(false);
            watch.Stop();
            await HostCommand.RunAsync(runtime, ["--root", stateRoot, "delete", "--force", id], CancellationToken.None).ConfigureAwait(false);
            return (result.Succeeded ? null : Clean(result.Error + result.Output), watch.Elapsed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ComputeException)
        {
            return (e.Message, TimeSpan.Zero);
        }
        finally
        {
            try
            {
                Directory.Delete(bundle, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    internal static string? Which(string name)
    {
        if (name.Contains('/'))
        {
            return File.Exists(name) ? name : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
