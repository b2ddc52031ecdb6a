using System.Collections.Concurrent;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Tests.Fakes;

/// <summary>A hand-written driver whose containers run until signalled; for testing the compute service's own logic.</summary>
public sealed class FakeIsolationDriver(RuntimeType runtimeType) : IIsolationDriver
{
    public RuntimeType RuntimeType { get; } = runtimeType;

    public ConcurrentDictionary<string, FakeContainer> Running { get; } = new();

    public List<string> Calls { get; } = [];

    /// <summary>What CheckSecurity refuses (InvalidArgument); null accepts every option.</summary>
    public string? RefuseSecurity { get; set; }

    public void CheckSecurity(ContainerSecurity security)
    {
        if (RefuseSecurity is { } reason && !ContainerSecurityPolicy.IsDefault(security))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, reason);
        }
    }

    /// <summary>What AdoptAsync reports for containers it has no running fake of.</summary>
    public ContainerExit ExitWhileAway { get; set; } = new(0);

    public Task<IContainer> StartAsync(ContainerContext context, CancellationToken ct)
    {
        lock (Calls)
        {
            Calls.Add($"start {context.Record.Name}");
        }

        var container = new FakeContainer(context.Record.Id);
        Running[context.Record.Id] = container;
        return Task.FromResult<IContainer>(container);
    }

    public Task<AdoptResult> AdoptAsync(ContainerContext context, CancellationToken ct) => Task.FromResult<AdoptResult>(
        Running.TryGetValue(context.Record.Id, out var c) ? new AdoptResult.Running(c) : new AdoptResult.Exited(ExitWhileAway));

    public Task CleanupAsync(ContainerContext context, CancellationToken ct)
    {
        lock (Calls)
        {
            Calls.Add($"cleanup {context.Record.Name}");
        }

        Running.TryRemove(context.Record.Id, out _);
        return Task.CompletedTask;
    }
}

public sealed class FakeContainer(string id) : IContainer
{
    private readonly TaskCompletionSource<ContainerExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Id { get; } = id;

    public int? HostPid => 4242;

    public ComputeSystemInfo? VirtualMachine => null;

    /// <summary>Whether SIGTERM ends it (a process that ignores it needs SIGKILL).</summary>
    public bool IgnoresTerm { get; set; }

    public void Exit(int code) => _exit.TrySetResult(new ContainerExit(code));

    public Task<ContainerExit> WaitAsync(CancellationToken ct = default) => _exit.Task.WaitAsync(ct);

    public Task SignalAsync(int signal, CancellationToken ct = default)
    {
        if (signal == 9 || (signal == 15 && !IgnoresTerm))
        {
            Exit(128 + signal);
        }

        return Task.CompletedTask;
    }

    public Task<IContainerProcess> ExecAsync(ProcessSpec spec, CancellationToken ct = default) => throw new NotSupportedException();

    public Task<Stream> OpenStdinAsync(CancellationToken ct = default) => Task.FromResult<Stream>(new MemoryStream());

    public Task ResizeAsync(int columns, int rows, CancellationToken ct = default) => Task.CompletedTask;

    public Task<IReadOnlyList<ContainerProcessInfo>> ListProcessesAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<ContainerProcessInfo>>([]);

    public Task<ContainerStatistics> GetStatisticsAsync(CancellationToken ct = default) => throw new NotSupportedException();
}
