using System.Runtime.InteropServices;

namespace Portal.Bench.Shared;

/// <summary>Ctrl-C, SIGTERM and SIGHUP cancel a benchmark run so its clean-up still happens; a second Ctrl-C ends the process at once.</summary>
public sealed class Interrupts : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _count;

    public Interrupts() =>
        _registrations = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(s => PosixSignalRegistration.Create(s, OnSignal))];

    public CancellationToken Token => _cancel.Token;

    public bool Requested => _cancel.IsCancellationRequested;

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _count) == 1)
        {
            context.Cancel = true;
            Console.Error.WriteLine($"{context.Signal}: stopping after clean-up (press Ctrl-C again to quit at once) ...");
            _cancel.Cancel();
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _cancel.Dispose();
    }
}
