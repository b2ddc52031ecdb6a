using System.Text.Json;
using Portal.Contracts.Guest;
using Portal.Guest.Boot;
using Portal.Guest.Wire;
using Portal.Guest.Containers;
using Portal.Shared.Native;
using Portal.Guest.Processes;

namespace Portal.Guest;

/// <summary>
/// Serves the host's requests. Hello is handled on the reader thread (it starts the session and the replay before
/// anything else is read); every other request runs on its own task and is answered whenever it finishes, matched by id.
/// A failed request answers with Error and the agent keeps serving. A request with effects that comes again (protocol 4,
/// same id and bytes) is answered with its first response, or when it finishes, and not run again (<see cref="RequestLog"/>).
/// </summary>
internal sealed class GuestAgent(OutboundQueue queue, ProcessSupervisor supervisor, ContainerRoot root, Task filesystemModules)
{
    private static readonly TimeSpan DeviceTimeout = TimeSpan.FromSeconds(20);

    private readonly TaskCompletionSource _poweringOff = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _startGate = new(1, 1);
    private readonly RequestLog _requests = new();
    private int _nextProcessId = 1;
    private bool _started;

    public GuestPort? Port { get; set; }

    /// <summary>Completes when a Shutdown request was carried out and the VM is about to power off.</summary>
    public Task PoweringOff => _poweringOff.Task;

    public void OnFrame(InboundFrame frame)
    {
        switch (frame.Kind)
        {
            case FrameKind.Request:
                OnRequest(frame.Channel, frame.Payload);
                break;
            case FrameKind.Stdin:
                supervisor.WriteStdin(frame.Channel, frame.Payload);
                break;
            case FrameKind.Ack when GuestProtocol.TryReadAck(frame.Payload, out var stream, out var sequence):
                queue.Acknowledge(frame.Channel, stream, sequence);
                break;
            default:
                GuestLog.Error($"unexpected {frame.Kind} frame from the host on channel {frame.Channel}");
                break;
        }
    }

    private void OnRequest(uint id, byte[] payload)
    {
        GuestRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(payload, GuestJsonContext.Default.GuestRequest);
        }
        catch (JsonException e)
        {
            Respond(id, new GuestResponse { Error = $"malformed request: {e.Message}" });
            return;
        }

        if (request is HelloRequest hello)
        {
            // The highest version both sides speak: an older host keeps working, a newer one learns what this guest can do.
            var agreed = Math.Min(hello.Version, GuestProtocol.Version);
            var response = hello.Version >= GuestProtocol.MinimumVersion
                ? new GuestResponse { Version = agreed, Kernel = KernelRelease(), Boot = agreed >= GuestProtocol.AcknowledgedOutputVersion ? BootId.Value : null }
                : new GuestResponse { Version = GuestProtocol.Version, Kernel = KernelRelease(), Error = $"protocol version {hello.Version} is not supported (the guest speaks {GuestProtocol.MinimumVersion} to {GuestProtocol.Version})" };
            if (!queue.SessionActive)
            {
                GuestLog.Info("host connected");
            }

            queue.StartSession(ResponseFrame(id, response), response.Error is null ? agreed : queue.Version);
            return;
        }

        if (request is { ReadOnly: false } && queue.Version >= GuestProtocol.RepeatableRequestsVersion && !_requests.TryBegin(id, payload, out var earlier))
        {
            // Sent again: the host did not see the answer (or is still waiting for it). Answer, never run it twice.
            if (earlier is not null)
            {
                Respond(id, earlier);
            }

            return;
        }

        _ = Task.Run(async () =>
        {
            GuestResponse response;
            try
            {
                response = request is null ? new GuestResponse { Error = "empty request" } : await HandleAsync(request).ConfigureAwait(false);
            }
            catch (GuestException e)
            {
                response = new GuestResponse { Error = e.Message };
            }
            catch (Exception e)
            {
                GuestLog.Error($"{request?.GetType().Name}: {e}");
                response = new GuestResponse { Error = $"{e.GetType().Name}: {e.Message}" };
            }

            if (response.Error is not null)
            {
                GuestLog.Error($"{request?.GetType().Name} failed: {response.Error}");
            }

            _requests.Complete(id, response);
            Respond(id, response);
            if (response.ProcessId is { } processId)
            {
                supervisor.Announce(processId);
            }

            if (request is ShutdownRequest && response.Error is null)
            {
                await PowerOffAsync().ConfigureAwait(false);
            }
        });
    }

    private async Task<GuestResponse> HandleAsync(GuestRequest request)
    {
        switch (request)
        {
            case StartContainerRequest start:
                return await StartContainerAsync(start).ConfigureAwait(false);
            case ExecRequest exec:
                RequireStarted();
                var id = (uint)Interlocked.Increment(ref _nextProcessId);
                var process = await supervisor.StartAsync(id, exec.Process).ConfigureAwait(false);
                return new GuestResponse { ProcessId = id, Pid = process.Pid };
            case SignalRequest signal:
                supervisor.Signal(signal.ProcessId, signal.Signal);
                return new GuestResponse();
            case ResizeRequest resize:
                supervisor.Resize(resize.ProcessId, resize.Columns, resize.Rows);
                return new GuestResponse();
            case ListProcessesRequest:
                return new GuestResponse { Processes = ProcessTable.List() };
            case StatisticsRequest:
                return new GuestResponse { Statistics = ProcessTable.Statistics() };
            case ShutdownRequest:
                await ShutdownAsync().ConfigureAwait(false);
                return new GuestResponse();
            case UpdateHostsRequest hosts:
                RequireStarted();
                root.UpdateHosts(hosts.Hosts);
                return new GuestResponse();
            default:
                throw new GuestException($"unsupported request {request.GetType().Name}");
        }
    }

    private async Task<GuestResponse> StartContainerAsync(StartContainerRequest start)
    {
        await _startGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_started)
            {
                throw new GuestException("the container is already started");
            }

            await filesystemModules.ConfigureAwait(false);
            await Task.WhenAll(ContainerRoot.WaitForDeviceAsync(start.ImageDevice, DeviceTimeout), ContainerRoot.WaitForDeviceAsync(start.ScratchDevice, DeviceTimeout)).ConfigureAwait(false);
            Networking.GuestInterfaces.BringUp("lo");
            if (start.Network is { } network)
            {
                await Networking.GuestInterfaces.ConfigureAsync(network, DeviceTimeout).ConfigureAwait(false);
            }

            root.Enter(start);
            supervisor.Hostname = start.Hostname;
            _started = true;
            GuestLog.Info($"container root mounted; starting {string.Join(' ', start.Process.Args)}");
            var process = await supervisor.StartAsync(1, start.Process).ConfigureAwait(false);
            return new GuestResponse { ProcessId = 1, Pid = process.Pid };
        }
        finally
        {
            _startGate.Release();
        }
    }

    private void RequireStarted()
    {
        if (!_started)
        {
            throw new GuestException("the container is not started");
        }
    }

    private async Task ShutdownAsync()
    {
        GuestLog.Info("shutting down");
        await supervisor.TerminateAllAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        root.Leave();
    }

    private async Task PowerOffAsync()
    {
        if (Port is { } port)
        {
            await port.FlushAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }

        _poweringOff.TrySetResult();
    }

    private void Respond(uint id, GuestResponse response) => queue.Enqueue(ResponseFrame(id, response));

    private static OutboundFrame ResponseFrame(uint id, GuestResponse response) =>
        new(FrameKind.Response, id, JsonSerializer.SerializeToUtf8Bytes(response, GuestJsonContext.Default.GuestResponse));

    /// <summary>This boot's id: output sequence numbers start again with every boot, so the host keys what it delivered by it.</summary>
    private static readonly Lazy<string> BootId = new(() =>
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (IOException)
        {
            return Guid.NewGuid().ToString();
        }
    });

    private static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            return Environment.OSVersion.VersionString;
        }
    }

    /// <summary>Powers the VM off; if that fails, reboots (QEMU with -no-reboot then exits too).</summary>
    public static void PowerOff()
    {
        Libc.sync();
        Libc.reboot(Libc.RB_POWER_OFF);
        GuestLog.Error($"power off: {Libc.ErrorText(Libc.LastError)}; rebooting instead");
        Libc.reboot(Libc.RB_AUTOBOOT);
    }
}
