using Microsoft.AspNetCore.Components;
using Portal.Web.Hosts;

namespace Portal.Web.Components.Controls;

/// <summary>
/// A page that shows live fleet state: it subscribes on init, coalesces bursts of changes into one render per
/// <see cref="RefreshWindow"/> (500 containers changing at once cost one render, not 500), and unsubscribes on dispose.
/// </summary>
public abstract class FleetComponent : ComponentBase, IDisposable
{
    public static readonly TimeSpan RefreshWindow = TimeSpan.FromMilliseconds(50);

    private IDisposable? _subscription;
    private int _pending;
    private bool _disposed;

    [Inject]
    protected Fleet Fleet { get; set; } = default!;

    protected override void OnInitialized()
    {
        _subscription = Fleet.Subscribe(OnFleetChanged);
        OnFleetChangedCore();
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

    private void OnFleetChanged()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 1)
        {
            return;
        }

        _ = InvokeAsync(async () =>
        {
            await Task.Delay(RefreshWindow);
            Interlocked.Exchange(ref _pending, 0);
            if (_disposed)
            {
                return;
            }

            OnFleetChangedCore();
            StateHasChanged();
        });
    }
}
