using System.Diagnostics;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Bench.CreateStartWait;

/// <summary>One timing of the library path, split at the three calls a client makes (remove is outside the total).</summary>
public sealed record LibrarySample(double CreateMs, double StartMs, double WaitMs, double RemoveMs)
{
    public double TotalMs => CreateMs + StartMs + WaitMs;
}

/// <summary>Runs /bin/true through <see cref="IComputeHost"/>: create, start, wait until stopped, then remove (untimed for the total).</summary>
public sealed class ComputeServicePath(IComputeHost compute)
{
    // Switch none: `runc run`, the peer, gives its container an empty network namespace too.
    private static readonly ContainerCreateSpec Spec = new() { Image = "busybox", Command = ["/bin/true"], SwitchName = "none" };

    public async Task<LibrarySample> RunOnceAsync(CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var created = await compute.Containers.CreateContainerAsync(Spec, ct);
        var afterCreate = watch.Elapsed;
        await compute.Containers.StartContainerAsync(created.Id, ct);
        var afterStart = watch.Elapsed;
        var stopped = await compute.Containers.WaitAsync(created.Id, ct);
        var afterWait = watch.Elapsed;

        if (stopped.State != ContainerState.Stopped || stopped.ExitCode != 0)
        {
            throw new InvalidOperationException($"Library path: container {created.Name} ended {stopped.State} with exit code {stopped.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} ({stopped.StopReason ?? "no reason"}); expected Stopped with 0.");
        }

        var removeWatch = Stopwatch.StartNew();
        await compute.Containers.RemoveContainerAsync(created.Id, force: true, ct);
        var removed = removeWatch.Elapsed;

        return new LibrarySample(
            afterCreate.TotalMilliseconds,
            (afterStart - afterCreate).TotalMilliseconds,
            (afterWait - afterStart).TotalMilliseconds,
            removed.TotalMilliseconds);
    }
}
