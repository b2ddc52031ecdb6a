using Microsoft.AspNetCore.Components;
using Portal.Web.Teams;

namespace Portal.Web.Components.Controls;

/// <summary>
/// A page that shows live fleet state: it subscribes on init, coalesces bursts of changes into at most one render per
/// <see cref="RefreshWindow"/> (500 containers changing at once cost one render, not 500), and unsubscribes on dispose.
/// </summary>
public abstract class FleetComponent : ComponentBase, IDisposable
{
    public static readonly TimeSpan RefreshWindow = TimeSpan.FromMilliseconds(50);

    private IDisposable? _subscription;
    private int _pending;
    private long _renderedAt;
    private bool _disposed;

    [Inject]
    protected SessionFleet Fleet { get; set; } = default!;

    protected override void OnInitialized()
    {
        _subscription = Fleet.Subscribe(OnFleetChanged);
        OnFleetChangedCore();
    }

    protected override void OnAfterRender(bool firstRender)
    {
        if (firstRender)
        {
            // After prerendering, in the live circuit: a team member's own connections to the hosts open now.
            Fleet.MarkInteractive();
        }
    }

    /// <summary>Recomputes what the page shows from the fleet; runs on the renderer's context.</summary>
    protected virtual void OnFleetChangedCore()
    {
    }

    public void Dispose()
    {
        _disposed = true;
        _subscription?.Dispose();
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>
    /// The first change after a quiet window renders at once; the changes that follow within the window wait for its
    /// end and render together (a throttle with a leading edge: a single event is not delayed, a burst costs one render
    /// per window).
    /// </summary>
    private void OnFleetChanged()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 1)
        {
            return;
        }

        _ = InvokeAsync(async () =>
        {
            var wait = (long)RefreshWindow.TotalMilliseconds - (Environment.TickCount64 - Interlocked.Read(ref _renderedAt));
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait));
            }

            Interlocked.Exchange(ref _pending, 0);
            if (_disposed)
            {
                return;
            }

            Interlocked.Exchange(ref _renderedAt, Environment.TickCount64);
            OnFleetChangedCore();
            StateHasChanged();
        });
    }
}
