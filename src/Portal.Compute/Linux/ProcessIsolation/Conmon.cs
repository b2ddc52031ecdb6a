using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// Launches conmon, the per-container monitor: it runs the OCI runtime's create, then holds the container's
/// stdio, writes its log and, when it ends, its exit file. It daemonizes, so containers outlive the agent.
/// </summary>
internal sealed class Conmon
{
    private readonly string _conmonPath;
    private readonly OciRuntime _runtime;

    public Conmon(string conmonPath, OciRuntime runtime)
    {
        _conmonPath = conmonPath;
        _runtime = runtime;
    }

    public sealed record Request
    {
        public required string Id { get; init; }
        public required string Name { get; init; }
        public required string Bundle { get; init; }
        public required string PidFile { get; init; }
        public required string ConmonPidFile { get; init; }
        public required string LogPath { get; init; }
        /// <summary>conmon's --log-size-max: at this size it starts the file over.</summary>
        public long LogMaxBytes { get; init; }
        public required string ExitDirectory { get; init; }
        public required string SocketDirectory { get; init; }
        public bool Terminal { get; init; }
        public bool Stdin { get; init; }
    }

    /// <summary>Creates the container through conmon and returns its first process's host PID once the runtime has created it.</summary>
    public async Task<int> CreateAsync(Request request, CancellationToken ct)
    {
        var args = new List<string>
        {
            _conmonPath, "--api-version", "1",
            "-c", request.Id, "-u", request.Id, "-n", request.Name,
            "-r", _runtime.Path, "-b", request.Bundle,
            "-p", request.PidFile, "-P", request.ConmonPidFile,
            "-l", "k8s-file:" + request.LogPath,
            "--exit-dir", request.ExitDirectory,
            "--socket-dir-path", request.SocketDirectory,
            "--log-level", "error",
        };
        if (request.LogMaxBytes > 0)
        {
            args.Add("--log-size-max");
            args.Add(request.LogMaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var arg in _runtime.GlobalArgs)
        {
            args.Add("--runtime-arg");
            args.Add(arg);
        }

        if (request.Terminal)
        {
            args.Add("-t");
        }

        if (request.Stdin)
        {
            // Without --leave-stdin-open: when the attached client closes its side, the container's stdin closes (docker's StdinOnce).
            args.Add("-i");
        }

        var (readFd, writeFd) = Libc.Pipe();
        using var reader = new SafeFileHandle(readFd, ownsHandle: true);
        int pid;
        try
        {
            // Under the container's umask (0022), not the agent's 077: the runtime that conmon runs creates mount points
            // in the container's root (/etc for /etc/hosts when the image has none), which must not come out 0700.
            pid = PosixSpawn.Spawn(
                "/bin/sh",
                ["/bin/sh", "-c", $"umask {Convert.ToString(OciSpecBuilder.ContainerUmask, 8)} && exec \"$@\"", "sh", .. args],
                ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "_OCI_SYNCPIPE=3"],
                [new SpawnFile(0, Path: "/dev/null"), new SpawnFile(1, Path: "/dev/null"), new SpawnFile(2, Path: "/dev/null"), new SpawnFile(3, ParentFd: writeFd)],
                newSession: false);
        }
        finally
        {
            Libc.close(writeFd);
        }

        // The process we spawned forks the real monitor and exits at once; reap it.
        var parentExit = ChildReaper.WaitAsync(pid);
        await using var stream = new FileStream(reader, FileAccess.Read, 1);
        var message = await ReadMessageAsync(stream, ct).ConfigureAwait(false);
        await parentExit.ConfigureAwait(false);
        if (message is null)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"conmon exited without creating container {request.Name}; see the system log for conmon's messages.");
        }

        var (value, text) = message.Value;
        if (value <= 0)
        {
            var error = OciRuntime.Clean(text ?? "unknown error");
            throw new ComputeException(OciRuntime.CreateFailureCode(error), $"{_runtime.Choice.Name} could not create container {request.Name}: {error}");
        }

        return value;
    }

    /// <summary>Reads one sync message: {"data": N} (or "pid"), with "message" on failure. Null at end of stream.</summary>
    internal static Task<(int Value, string? Message)?> ReadMessageAsync(Stream stream, CancellationToken ct) =>
        Task.Factory.StartNew(() => ReadMessage(stream), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static (int Value, string? Message)? ReadMessage(Stream stream)
    {
        var line = new List<byte>();
        var buffer = new byte[256];
        while (true)
        {
            var n = stream.Read(buffer, 0, buffer.Length);
            if (n == 0)
            {
                return null;
            }

            var newline = Array.IndexOf(buffer, (byte)'\n', 0, n);
            line.AddRange(buffer.AsSpan(0, newline < 0 ? n : newline).ToArray());
            if (newline < 0)
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line.ToArray());
            var root = doc.RootElement;
            var value = root.TryGetProperty("data", out var data) ? data.GetInt32() : root.GetProperty("pid").GetInt32();
            return (value, root.TryGetProperty("message", out var m) ? m.GetString() : null);
        }
    }
}
