using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>A process to run in a container (exec), with or without a terminal.</summary>
public sealed record ProcessSpec
{
    public required IReadOnlyList<string> Command { get; init; }
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool Stdin { get; init; }
    public int Columns { get; init; } = 80;
    public int Rows { get; init; } = 24;
}

/// <summary>Why and how a container's compute system ended.</summary>
public sealed record ContainerExit(int ExitCode, string? Reason = null);

/// <summary>A process running in a container. With a terminal, output is one stream and there is no separate stderr.</summary>
public interface IContainerProcess : IAsyncDisposable
{
    Stream? StandardInput { get; }

    Stream StandardOutput { get; }

    Stream? StandardError { get; }

    Task<int> WaitAsync(CancellationToken ct = default);

    void Resize(int columns, int rows);
}

/// <summary>
/// A started compute system running a container. Process isolation and VM isolation both implement it;
/// callers never branch on isolation (hcsshim's cow.Container).
/// </summary>
public interface IContainer
{
    string Id { get; }

    /// <summary>The host PID of the container's first process; null when the host cannot see it (VM isolation).</summary>
    int? HostPid { get; }

    /// <summary>The utility VM that hosts the container, for VM isolation; null for process isolation.</summary>
    ComputeSystemInfo? VirtualMachine { get; }

    /// <summary>Completes when the container's first process has ended (or its compute system died).</summary>
    Task<ContainerExit> WaitAsync(CancellationToken ct = default);

    /// <summary>Sends a signal to the container's first process.</summary>
    Task SignalAsync(int signal, CancellationToken ct = default);

    Task<IContainerProcess> ExecAsync(ProcessSpec spec, CancellationToken ct = default);

    /// <summary>A write-only stream into the first process's stdin (containers created with OpenStdin); disposing it closes that stdin.</summary>
    Task<Stream> OpenStdinAsync(CancellationToken ct = default);

    /// <summary>Resizes the first process's terminal (containers created with Tty).</summary>
    Task ResizeAsync(int columns, int rows, CancellationToken ct = default);

    Task<IReadOnlyList<ContainerProcessInfo>> ListProcessesAsync(CancellationToken ct = default);

    Task<ContainerStatistics> GetStatisticsAsync(CancellationToken ct = default);

    /// <summary>
    /// The members of the container's switch changed: its /etc/hosts becomes <paramref name="hosts"/>. Process isolation
    /// needs nothing here (its hosts file is bind-mounted from the host, which rewrites it); a VM's guest is told.
    /// </summary>
    Task UpdateHostsAsync(string hosts, CancellationToken ct = default) => Task.CompletedTask;
}
