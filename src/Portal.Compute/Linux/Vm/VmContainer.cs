using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Contracts.Guest;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// A VM-isolated container: its own guest kernel in a QEMU worker, the guest agent as PID 1, the container's
/// processes visible only inside. Everything goes over the guest channel.
/// </summary>
internal sealed class VmContainer : IContainer, IAsyncDisposable
{
    public const string ExitFileName = "exit";
    private const uint FirstProcess = 1;

    private readonly ContainerRecord _record;
    private readonly VmWorker _worker;
    private readonly string _runDirectory;
    private readonly VmOptions _options;
    private readonly long _memoryBytes;
    private readonly ILogger _logger;
    private readonly ContainerLogWriter _log;
    private readonly TaskCompletionSource<ContainerExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _disposed = new();
    private GuestChannel _channel = null!;
    private TaskCompletionSource<GuestChannel> _reconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _logPump = Task.CompletedTask;
    private int _finishing;
    private string? _violation;

    private VmContainer(ContainerRecord record, VmWorker worker, string runDirectory, string logPath, LogRotation logRotation, long memoryBytes, VmOptions options, ILogger logger)
    {
        _record = record;
        _worker = worker;
        _runDirectory = runDirectory;
        _memoryBytes = memoryBytes;
        _options = options;
        _logger = logger;
        _log = new ContainerLogWriter(logPath, logRotation);
    }

    public string Id => _record.Id;

    public int? HostPid => null;

    public int WorkerPid => _worker.Pid;

    public string? GuestKernel => _channel.GuestKernel;

    public ComputeSystemInfo? VirtualMachine => new()
    {
        Id = Id + "@vm",
        Name = _record.Name,
        Owner = _record.Labels.TryGetValue("owner", out var owner) ? owner : "portal",
        Type = ComputeSystemType.VirtualMachine,
        RuntimeType = RuntimeType.HyperV,
        State = ContainerState.Running,
        HostPid = _worker.Pid,
    };

    /// <summary>Connects to the worker's guest agent (retrying while the guest boots) and starts watching the VM.</summary>
    public static async Task<VmContainer> AttachAsync(ContainerRecord record, VmWorker worker, string runDirectory, string logPath, LogRotation logRotation, long memoryBytes, VmOptions options, TimeSpan timeout, ILogger logger, CancellationToken ct)
    {
        var container = new VmContainer(record, worker, runDirectory, logPath, logRotation, memoryBytes, options, logger);
        try
        {
            container._channel = await GuestChannel.ConnectAsync(Path.Combine(runDirectory, VmWorker.SocketName), container.OnEvent, () => worker.IsAlive, timeout, ct, container._log.Resume).ConfigureAwait(false);
        }
        catch (Exception e) when (e is GuestChannelException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            container._log.Dispose();
            var what = e is OperationCanceledException ? $"did not answer within {timeout.TotalSeconds:0} s" : e.Message;
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The VM of container '{record.Name}' did not come up: {what}{ConsoleSuffix(runDirectory)}", e);
        }
        catch
        {
            container._log.Dispose();
            throw;
        }

        container._logPump = container.PumpFirstProcessAsync(container._channel);
        _ = container.WatchWorkerAsync();
        _ = container.KeepConnectedAsync();
        if (VmWorker.ReadPid(Path.Combine(runDirectory, ExitFileName)) is { } recorded)
        {
            // The agent died after the container exited but before the VM was shut down: finish that now.
            container.Finish(recorded);
        }

        return container;
    }

    /// <summary>Mounts the disks in the guest and starts the container's first process.</summary>
    public async Task StartFirstProcessAsync(GuestNetwork? network, string? hosts, CancellationToken ct)
    {
        if (network is not null && _channel.Version < GuestProtocol.NetworkingVersion)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The guest agent of container '{_record.Name}' speaks protocol {_channel.Version}, which has no networking: rebuild the guest (deploy/guest/build), or connect the container to switch none.");
        }

        var request = new StartContainerRequest
        {
            Hostname = _record.Name,
            ImageDevice = "/dev/vda",
            ScratchDevice = "/dev/vdb",
            Process = new GuestProcessSpec
            {
                Args = _record.Command,
                Env = WithTerm(_record.Environment, _record.Tty),
                Cwd = _record.WorkingDirectory,
                User = _record.User,
                Tty = _record.Tty,
                Stdin = _record.OpenStdin,
            },
            Network = network,
            Hosts = hosts,
        };
        try
        {
            await SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (GuestChannelException e)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The guest could not start container '{_record.Name}': {e.Message}{(e.FromGuest ? "" : ConsoleSuffix(_runDirectory))}", e);
        }
    }

    public Task<ContainerExit> WaitAsync(CancellationToken ct = default) => _exit.Task.WaitAsync(ct);

    public async Task SignalAsync(int signal, CancellationToken ct = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await SendAsync(new SignalRequest(FirstProcess, signal), limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is GuestChannelException { FromGuest: false } or OperationCanceledException && !ct.IsCancellationRequested)
        {
            if (signal != 9)
            {
                throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The guest of container '{_record.Name}' did not take the signal: {e.Message}", e);
            }

            // SIGKILL must work even when the guest does not answer: end the whole VM.
            _logger.LogWarning("The guest of {Name} did not answer a SIGKILL; killing its VM worker", _record.Name);
            _worker.Kill();
        }
    }

    public async Task<IContainerProcess> ExecAsync(ProcessSpec spec, CancellationToken ct = default)
    {
        if (spec.Command.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No command given: say which program to run in the container.");
        }

        var process = new GuestProcessSpec
        {
            Args = spec.Command,
            Env = WithTerm(EnvironmentBuilder.Merge(_record.Environment, spec.Environment), spec.Tty),
            Cwd = spec.WorkingDirectory ?? _record.WorkingDirectory,
            User = spec.User ?? _record.User,
            Tty = spec.Tty,
            Stdin = spec.Stdin,
            Columns = spec.Columns,
            Rows = spec.Rows,
        };
        GuestResponse response;
        try
        {
            response = await SendAsync(new ExecRequest(process), ct).ConfigureAwait(false);
        }
        catch (GuestChannelException e)
        {
            throw new ComputeException(e.FromGuest ? ComputeErrorCode.InvalidArgument : ComputeErrorCode.RuntimeFailure, $"Cannot run '{spec.Command[0]}' in container '{_record.Name}': {e.Message}", e);
        }

        var id = response.ProcessId ?? throw new ComputeException(ComputeErrorCode.RuntimeFailure, "The guest agent started the process but did not say its id.");
        var channel = _channel;
        return new VmProcess(channel, id, channel.Output(id) ?? channel.Claim(id), spec.Tty, spec.Stdin, _logger);
    }

    public Task<Stream> OpenStdinAsync(CancellationToken ct = default) =>
        _record.OpenStdin
            ? Task.FromResult<Stream>(new GuestStdinStream(_channel, FirstProcess))
            : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Container '{_record.Name}' was not created with an open stdin.");

    public async Task UpdateHostsAsync(string hosts, CancellationToken ct = default)
    {
        if (_channel.Version >= GuestProtocol.NetworkingVersion)
        {
            await Request(new UpdateHostsRequest(hosts), ct).ConfigureAwait(false);
        }
    }

    public async Task ResizeAsync(int columns, int rows, CancellationToken ct = default)
    {
        if (!_record.Tty)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Container '{_record.Name}' has no terminal to resize; create it with a TTY.");
        }

        await Request(new ResizeRequest(FirstProcess, columns, rows), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ContainerProcessInfo>> ListProcessesAsync(CancellationToken ct = default)
    {
        var response = await Request(new ListProcessesRequest(), ct).ConfigureAwait(false);
        return (response.Processes ?? [])
            .Select(p => new ContainerProcessInfo
            {
                Pid = p.Pid,
                HostPid = null, // the host cannot see inside the VM
                ParentPid = p.ParentPid,
                User = p.User,
                Name = p.Name,
                CommandLine = p.CommandLine,
                CpuSeconds = p.CpuSeconds,
                MemoryBytes = p.MemoryBytes,
            })
            .OrderBy(p => p.Pid)
            .ToList();
    }

    public async Task<ContainerStatistics> GetStatisticsAsync(CancellationToken ct = default)
    {
        var stats = (await Request(new StatisticsRequest(), ct).ConfigureAwait(false)).Statistics;
        return new ContainerStatistics
        {
            Timestamp = DateTimeOffset.UtcNow,
            CpuSeconds = stats?.CpuSeconds ?? 0,
            MemoryBytes = stats?.MemoryBytes ?? 0,
            MemoryLimitBytes = _record.Limits.MemoryBytes ?? _memoryBytes,
            Pids = stats?.Pids ?? 0,
            PidsLimit = _record.Limits.PidsLimit,
        };
    }

    private async Task<GuestResponse> Request(GuestRequest request, CancellationToken ct)
    {
        try
        {
            return await SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (GuestChannelException e)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"The guest of container '{_record.Name}' did not answer: {e.Message}", e);
        }
    }

    /// <summary>
    /// A request on the current connection; when that connection dropped while the VM runs, once more on the next one,
    /// under the same id: a guest of protocol 4 that ran it already answers without running it twice.
    /// </summary>
    private async Task<GuestResponse> SendAsync(GuestRequest request, CancellationToken ct)
    {
        uint? id = null;
        for (var attempt = 0; ; attempt++)
        {
            var channel = _channel;
            try
            {
                id ??= channel.NewRequestId();
                return await channel.RequestAsync(request, ct, id).ConfigureAwait(false);
            }
            catch (GuestChannelException e) when (!e.FromGuest && attempt < 2 && _worker.IsAlive && Volatile.Read(ref _finishing) == 0 && !_disposed.IsCancellationRequested)
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                limit.CancelAfter(TimeSpan.FromSeconds(20));
                while (ReferenceEquals(_channel, channel))
                {
                    try
                    {
                        await Task.WhenAny(Volatile.Read(ref _reconnected).Task, Task.Delay(100, limit.Token)).ConfigureAwait(false);
                        limit.Token.ThrowIfCancellationRequested();
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        // A caller's own cancellation stays one; a guest that never came back is a failure of the guest.
                        throw new GuestChannelException($"The connection to the guest dropped and it did not reconnect within 20 s ({e.Message}).", inner: e);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The connection can drop while the VM runs on (the guest saw a previous agent's hang-up late and ended the new
    /// session): connect again and say Hello; the guest replays what it kept.
    /// </summary>
    private async Task KeepConnectedAsync()
    {
        while (true)
        {
            var channel = _channel;
            await channel.Closed.ConfigureAwait(false);
            if (_disposed.IsCancellationRequested || Volatile.Read(ref _finishing) != 0 || !_worker.IsAlive)
            {
                return;
            }

            if (channel.Violation is { } violation)
            {
                StopForViolation(violation);
                return;
            }

            _logger.LogInformation("The guest channel of {Name} dropped ({Reason}); reconnecting", _record.Name, channel.CloseReason);
            try
            {
                // What the old connection delivered is in the log before the new one asks what was delivered.
                await _logPump.ConfigureAwait(false);
                var next = await GuestChannel.ConnectAsync(Path.Combine(_runDirectory, VmWorker.SocketName), OnEvent, () => _worker.IsAlive, TimeSpan.FromSeconds(15), _disposed.Token, _log.Resume).ConfigureAwait(false);
                _channel = next;
                _logPump = PumpFirstProcessAsync(next);
                Interlocked.Exchange(ref _reconnected, new TaskCompletionSource<GuestChannel>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(next);
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is GuestChannelException or OperationCanceledException)
            {
                if (e is GuestChannelException { Violation: { } broken })
                {
                    StopForViolation(broken);
                }
                else if (!_disposed.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Cannot reconnect to the guest of {Name}; stopping its VM", _record.Name);
                    _worker.Kill();
                }

                return;
            }
        }
    }

    /// <summary>The guest broke the protocol: it is not trusted any more. Its VM is stopped; the container's exit says why.</summary>
    private void StopForViolation(string violation)
    {
        _violation = violation;
        _logger.LogWarning("The guest of {Name} broke the protocol ({Violation}); stopping its VM", _record.Name, violation);
        _worker.Kill();
    }

    private void OnEvent(GuestEvent e)
    {
        // The channel ends the process's output and records its exit; the first process's exit is the container's.
        if (e is ProcessExitedEvent { ProcessId: FirstProcess } exited)
        {
            Finish(exited.ExitCode);
        }
    }

    /// <summary>The container's first process ended: record it, then power the VM off (kill it when it does not).</summary>
    private void Finish(int exitCode)
    {
        if (Interlocked.Exchange(ref _finishing, 1) != 0)
        {
            return;
        }

        try
        {
            File.WriteAllText(Path.Combine(_runDirectory, ExitFileName), exitCode.ToString(CultureInfo.InvariantCulture));
        }
        catch (IOException e)
        {
            _logger.LogWarning(e, "Cannot record the exit of {Name}", _record.Name);
        }

        _ = Task.Run(async () =>
        {
            using var limit = new CancellationTokenSource(_options.ShutdownTimeout);
            try
            {
                await _channel.RequestAsync(new ShutdownRequest(), limit.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is GuestChannelException or OperationCanceledException)
            {
                // The guest may power off before it answers; the worker's exit is what counts.
            }

            try
            {
                await _worker.Exited.WaitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("The VM of {Name} did not power off within {Timeout}; killing its worker", _record.Name, _options.ShutdownTimeout);
                _worker.Kill();
                await _worker.Exited.ConfigureAwait(false);
            }

            await _logPump.ConfigureAwait(false);
            _exit.TrySetResult(new ContainerExit(exitCode));
        });
    }

    /// <summary>The worker ended without the container's exit: it was killed, crashed, or the guest kernel panicked.</summary>
    private async Task WatchWorkerAsync()
    {
        var status = await _worker.Exited.ConfigureAwait(false);
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        // Anything the guest said before it went (an exit event) is still being read.
        await Task.WhenAny(_channel.Closed, Task.Delay(2000)).ConfigureAwait(false);
        if (Volatile.Read(ref _finishing) != 0 || _disposed.IsCancellationRequested)
        {
            return;
        }

        _channel.Output(FirstProcess)?.Complete();
        await Task.WhenAny(_logPump, Task.Delay(2000)).ConfigureAwait(false);
        _exit.TrySetResult(_violation is { } violation
            ? new ContainerExit(255, $"The VM was stopped because its guest agent broke the protocol: {violation}")
            : VmContainerExits.Describe(status, VmWorker.ConsoleTail(_runDirectory, 400)));
    }

    private async Task PumpFirstProcessAsync(GuestChannel channel)
    {
        var output = channel.Output(FirstProcess) ?? channel.Claim(FirstProcess);
        await Task.WhenAll(Pump(output.Stdout, stderr: false), Pump(output.Stderr, stderr: true)).ConfigureAwait(false);
    }

    /// <summary>Writes the first process's output to the log; each chunk is acknowledged only once it is recorded there.</summary>
    private async Task Pump(GuestOutputStream stream, bool stderr)
    {
        try
        {
            while (await stream.ReadChunkAsync(_disposed.Token).ConfigureAwait(false) is { } chunk)
            {
                _log.Write(stderr, chunk.Data.Span, chunk.Sequence);
                await stream.AcknowledgeAsync(chunk.Sequence).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (IOException e)
        {
            _logger.LogWarning(e, "Writing the log of {Name} failed", _record.Name);
        }
    }

    private static IReadOnlyList<string> WithTerm(IReadOnlyList<string> env, bool tty) =>
        tty && !env.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal)) ? [.. env, "TERM=xterm"] : env;

    internal static string ConsoleSuffix(string runDirectory)
    {
        var tail = VmWorker.ConsoleTail(runDirectory, 8);
        return tail.Count == 0 ? "." : ". Guest console: " + string.Join(" | ", tail);
    }

    /// <summary>Lets go of the VM at once without stopping it (the agent is stopping; the next one re-adopts it).</summary>
    public void Detach()
    {
        if (!_disposed.IsCancellationRequested)
        {
            _disposed.Cancel();
            _channel.Close();
            _log.Dispose();
        }
    }

    /// <summary>Lets go of the VM without stopping it (the agent is stopping; the next one re-adopts it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        await _channel.DisposeAsync().ConfigureAwait(false);
        await _logPump.ConfigureAwait(false);
        _log.Dispose();
    }
}

/// <summary>Why a VM ended when the guest never reported the container's exit: a panic, a kill, a crash.</summary>
internal static class VmContainerExits
{
    public static ContainerExit Describe(int? status, IReadOnlyList<string> console)
    {
        var panic = console.ToList().FindIndex(l => l.Contains("Kernel panic", StringComparison.Ordinal));
        if (panic >= 0)
        {
            return new ContainerExit(255, "The guest kernel panicked: " + string.Join(" | ", console.Skip(panic).Take(4).Select(StripTimestamp)));
        }

        return status switch
        {
            137 => new ContainerExit(137, "The VM worker was killed (SIGKILL)."),
            > 128 => new ContainerExit(255, $"The VM worker was killed (signal {status - 128})."),
            null => new ContainerExit(255, "The VM worker was killed or ended without the container's exit code."),
            _ => new ContainerExit(255, $"The VM worker exited ({status}) without the container's exit code" + (console.Count > 0 ? ": " + StripTimestamp(console[^1]) : ".")),
        };
    }

    private static string StripTimestamp(string line) =>
        line.StartsWith('[') && line.IndexOf(']', StringComparison.Ordinal) is var end and > 0 ? line[(end + 1)..].Trim() : line;
}
