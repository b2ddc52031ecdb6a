using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>A process-isolated container: namespaces and cgroups on the host kernel, run by the OCI runtime under conmon.</summary>
internal sealed class OciContainer : IContainer
{
    private readonly ProcessIsolationDriver _driver;
    private readonly ContainerRecord _record;
    private readonly string _rootfs;
    private readonly int _conmonPid;

    public OciContainer(ProcessIsolationDriver driver, ContainerRecord record, int hostPid, int conmonPid, string rootfs)
    {
        _driver = driver;
        _record = record;
        HostPid = hostPid;
        _conmonPid = conmonPid;
        _rootfs = rootfs;
    }

    public string Id => _record.Id;

    public int? HostPid { get; }

    public ComputeSystemInfo? VirtualMachine => null;

    public Task<ContainerExit> WaitAsync(CancellationToken ct = default) =>
        _driver.Exits.WaitAsync(Id, () => ProcessIsAlive(_conmonPid, "conmon")).WaitAsync(ct);

    public Task SignalAsync(int signal, CancellationToken ct = default) => _driver.Runtime.KillAsync(Id, signal, ct);

    public Task<IContainerProcess> ExecAsync(ProcessSpec spec, CancellationToken ct = default) =>
        OciExec.StartAsync(_driver.Runtime, _record, _driver.RunDirectory(Id), _rootfs, spec, _driver.AppArmor, ct);

    public async Task<Stream> OpenStdinAsync(CancellationToken ct = default)
    {
        // conmon's attach socket: what we send goes to the container's stdin; closing our side closes it.
        var socket = await ConmonAttach.ConnectAsync(_driver.RunDirectory(Id), ct).ConfigureAwait(false);
        return new ConmonAttach.StdinStream(socket);
    }

    public async Task ResizeAsync(int columns, int rows, CancellationToken ct = default)
    {
        // conmon's control fifo: "1 <rows> <columns>" is a window resize of the container's terminal.
        await using var ctl = new FileStream(Path.Combine(_driver.RunDirectory(Id), "ctl"), FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
        await ctl.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"1 {rows} {columns}\n"), ct).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<ContainerProcessInfo>> ListProcessesAsync(CancellationToken ct = default)
    {
        var pidNamespace = HostPid is { } pid ? ProcessTable.PidNamespaceOf(pid) : null;
        if (pidNamespace is null)
        {
            return Task.FromResult<IReadOnlyList<ContainerProcessInfo>>([]);
        }

        var userName = ContainerUser.NameLookup(_rootfs);
        IReadOnlyList<ContainerProcessInfo> list = ProcessTable.InNamespace(pidNamespace.Value)
            .Select(p => new ContainerProcessInfo
            {
                Pid = p.NamespacePids[^1],
                HostPid = p.Pid,
                ParentPid = p.Pid == HostPid ? 0 : ProcessTable.Read(p.ParentPid)?.NamespacePids[^1],
                User = userName(p.Uid),
                Name = p.Name,
                CommandLine = p.CommandLine,
                CpuSeconds = p.CpuSeconds,
                MemoryBytes = p.RssBytes,
            })
            .OrderBy(p => p.Pid)
            .ToList();
        return Task.FromResult(list);
    }

    public Task<ContainerStatistics> GetStatisticsAsync(CancellationToken ct = default)
    {
        var usage = HostPid is { } pid ? _driver.Cgroups.Read(pid) : null;
        return Task.FromResult(new ContainerStatistics
        {
            Timestamp = DateTimeOffset.UtcNow,
            CpuSeconds = usage?.CpuSeconds ?? 0,
            MemoryBytes = usage?.MemoryBytes ?? 0,
            MemoryLimitBytes = _record.Limits.MemoryBytes,
            Pids = usage?.Pids ?? 0,
            PidsLimit = _record.Limits.PidsLimit ?? _driver.DefaultPidsLimit,
        });
    }

    internal static bool ProcessIsAlive(int pid, string expectedName)
    {
        try
        {
            return pid > 0 && File.ReadAllText($"/proc/{pid}/comm").Trim() == expectedName;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
