using System.Diagnostics;
using Portal.Compute.Containers;
using Portal.Compute.Linux;
using Portal.Shared.Native;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>Runs another process in a process-isolated container through the OCI runtime's exec.</summary>
internal static class OciExec
{
    public static async Task<IContainerProcess> StartAsync(OciRuntime runtime, ContainerRecord record, string runDirectory, string rootfs, ProcessSpec spec, AppArmorHost appArmor, CancellationToken ct)
    {
        if (spec.Command.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No command given: say which program to run in the container.");
        }

        var user = ContainerUser.Resolve(spec.User ?? record.User, rootfs);
        var env = EnvironmentBuilder.Merge(record.Environment, spec.Environment);
        if (spec.Tty && !env.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal)))
        {
            env = [.. env, "TERM=xterm"];
        }

        var profile = await appArmor.ProfileForAsync(record.Security.AppArmorProfile, ct).ConfigureAwait(false);
        var process = OciSpecBuilder.Process(spec.Command, env, spec.WorkingDirectory ?? record.WorkingDirectory, user, spec.Tty, record.Security, profile);
        if (spec.Tty)
        {
            // The runtime sizes the container's terminal before the process runs; copying our terminal's size into it
            // happens after, so a quick `stty size` could otherwise see 0 0 (seen on a loaded machine).
            process["consoleSize"] = new System.Text.Json.Nodes.JsonObject { ["height"] = spec.Rows, ["width"] = spec.Columns };
        }

        var specPath = Path.Combine(runDirectory, $"exec-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(specPath, process.ToJsonString(), ct).ConfigureAwait(false);
        var args = runtime.GlobalArgs.Concat(spec.Tty ? ["exec", "-t", "--process", specPath, record.Id] : new[] { "exec", "--process", specPath, record.Id }).ToList();
        try
        {
            return spec.Tty ? StartWithTerminal(runtime, args, spec, specPath) : StartWithPipes(runtime, args, spec, specPath);
        }
        catch
        {
            File.Delete(specPath);
            throw;
        }
    }

    /// <summary>
    /// The runtime's exec under the container's umask (0022): the exec'd process inherits the runtime's, which would
    /// otherwise be the agent's private 077 (crun ignores process.user.umask for exec).
    /// </summary>
    private static (string File, IReadOnlyList<string> Args) WithContainerUmask(string runtime, IEnumerable<string> args) =>
        ("/bin/sh", ["-c", $"umask {Convert.ToString(OciSpecBuilder.ContainerUmask, 8)} && exec \"$0\" \"$@\"", runtime, .. args]);

    private static IContainerProcess StartWithPipes(OciRuntime runtime, List<string> args, ProcessSpec spec, string specPath)
    {
        var (file, argv) = WithContainerUmask(runtime.Path, args);
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in argv)
        {
            psi.ArgumentList.Add(a);
        }

        var process = System.Diagnostics.Process.Start(psi) ?? throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Cannot start {runtime.Path}.");
        if (!spec.Stdin)
        {
            process.StandardInput.Close();
        }

        return new PipeProcess(process, spec.Stdin, specPath);
    }

    private static IContainerProcess StartWithTerminal(OciRuntime runtime, List<string> args, ProcessSpec spec, string specPath)
    {
        // The runtime relays between our terminal and the container's; it must own ours as its controlling
        // terminal so a resize (SIGWINCH) reaches it. A new session opening the slave acquires it.
        var pty = Pty.Open();
        try
        {
            pty.Resize(spec.Columns, spec.Rows);
            var files = Enumerable.Range(0, 3).Select(fd => new SpawnFile(fd, Path: pty.SlavePath)).ToList();
            var (file, argv) = WithContainerUmask(runtime.Path, args);
            var pid = PosixSpawn.Spawn(file, [file, .. argv], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], files, newSession: true);
            return new TerminalProcess(pty, ChildReaper.WaitAsync(pid), specPath);
        }
        catch
        {
            pty.Dispose();
            throw;
        }
    }

    private sealed class PipeProcess(System.Diagnostics.Process process, bool stdin, string specPath) : IContainerProcess
    {
        public Stream? StandardInput { get; } = stdin ? process.StandardInput.BaseStream : null;

        public Stream StandardOutput => process.StandardOutput.BaseStream;

        public Stream? StandardError => process.StandardError.BaseStream;

        public async Task<int> WaitAsync(CancellationToken ct = default)
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            File.Delete(specPath);
            return process.ExitCode;
        }

        public void Resize(int columns, int rows) =>
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "This process has no terminal to resize; start it with a TTY.");

        public ValueTask DisposeAsync()
        {
            if (!process.HasExited)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                }
            }

            process.Dispose();
            File.Delete(specPath);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class TerminalProcess : IContainerProcess
    {
        private readonly Pty _pty;
        private readonly Task<int> _exit;
        private readonly string _specPath;
        private readonly PtyStream _input;
        private readonly PtyStream _output;

        public TerminalProcess(Pty pty, Task<int> exit, string specPath)
        {
            _pty = pty;
            _exit = exit;
            _specPath = specPath;
            var fd = (int)pty.Master.DangerousGetHandle();
            _input = new PtyStream(Native.dup(fd));
            _output = new PtyStream(Native.dup(fd));
        }

        public Stream? StandardInput => _input;

        public Stream StandardOutput => _output;

        public Stream? StandardError => null;

        public async Task<int> WaitAsync(CancellationToken ct = default)
        {
            var code = await _exit.WaitAsync(ct).ConfigureAwait(false);
            File.Delete(_specPath);
            return code;
        }

        public void Resize(int columns, int rows) => _pty.Resize(columns, rows);

        public async ValueTask DisposeAsync()
        {
            await _input.DisposeAsync().ConfigureAwait(false);
            await _output.DisposeAsync().ConfigureAwait(false);
            _pty.Dispose();
            File.Delete(_specPath);
        }
    }
}
