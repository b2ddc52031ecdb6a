using MudBlazor;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Components.Dialogs;
using Portal.Web.Hosts;
using Portal.Web.Model;

namespace Portal.Web.Components.Pages;

/// <summary>A host's virtual switches (Get-VMSwitch): list with their containers and addresses, create, remove with confirmation.</summary>
public sealed partial class Switches
{
    private IReadOnlyList<SwitchInfo> _switches = [];
    private string? _hostId;
    private string? _error;
    private string? _removing;
    private HostConnectionState? _followed;
    private CancellationTokenSource? _follow;
    private bool _loading;

    protected override void OnInitialized()
    {
        base.OnInitialized();
        _hostId = Fleet.Hosts.FirstOrDefault(h => h.State == HostConnectionState.Connected)?.Id ?? Fleet.Hosts.FirstOrDefault()?.Id;
        Follow();
    }

    /// <summary>The agent pushes the list whenever it changes; a host that reconnects is followed again from a fresh list.</summary>
    protected override void OnFleetChangedCore()
    {
        var state = _hostId is not null ? Fleet.Find(_hostId)?.State : null;
        if (state == HostConnectionState.Connected && _followed != HostConnectionState.Connected)
        {
            Follow();
        }

        _followed = state;
    }

    private void SelectHost(string hostId)
    {
        _hostId = hostId;
        _switches = [];
        Follow();
    }

    /// <summary>(Re)subscribes to the selected host's switches: the first list is the snapshot, then every change.</summary>
    private void Follow()
    {
        _follow?.Cancel();
        _follow?.Dispose();
        _follow = null;
        _error = null;
        var host = _hostId is null ? null : Fleet.Find(_hostId);
        _followed = host?.State;
        if (host is null)
        {
            _switches = [];
            return;
        }

        _follow = new CancellationTokenSource();
        _loading = true;
        _ = FollowAsync(host, _follow.Token);
    }

    private async Task FollowAsync(AgentHost host, CancellationToken ct)
    {
        try
        {
            await foreach (var switches in host.Client.SubscribeSwitchesAsync(ct))
            {
                await InvokeAsync(() =>
                {
                    _switches = [.. switches.OrderBy(s => !s.IsBuiltIn).ThenBy(s => !s.IsDefault).ThenBy(s => s.Name, StringComparer.OrdinalIgnoreCase)];
                    _loading = false;
                    StateHasChanged();
                });
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (AgentException e) when (!ct.IsCancellationRequested)
        {
            await InvokeAsync(() =>
            {
                _error = e.Message;
                _loading = false;
                StateHasChanged();
            });
        }
    }

    protected override void Dispose(bool disposing)
    {
        _follow?.Cancel();
        _follow?.Dispose();
    }

    private async Task CreateAsync()
    {
        if (_hostId is null)
        {
            return;
        }

        var parameters = new DialogParameters<CreateSwitchDialog> { { d => d.HostId, _hostId } };
        var dialog = await Dialogs.ShowAsync<CreateSwitchDialog>("New switch", parameters, new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true, CloseOnEscapeKey = true });
        await dialog.Result; // the new switch arrives through the subscription
    }

    private async Task RemoveAsync(SwitchInfo sw)
    {
        if (_hostId is null || Fleet.Find(_hostId) is not { } host)
        {
            return;
        }

        var message = sw.Containers.Count > 0
            ? $"It is used by {string.Join(", ", sw.Containers.Select(c => c.ContainerName))}: the agent refuses until they are removed."
            : sw.IsDefault
                ? "It is the host's default switch: containers created without a switch are then refused until they name one. It is not made again."
                : "Its bridge and firewall rules are deleted; this cannot be undone.";
        if (await Dialogs.ShowMessageBoxAsync($"Remove switch '{sw.Name}'?", message, yesText: "Remove", cancelText: "Cancel") != true)
        {
            return;
        }

        _removing = sw.Name;
        _error = null;
        try
        {
            await host.Client.RemoveSwitchAsync(sw.Name, CancellationToken.None);
            Snackbar.Add($"Removed switch '{sw.Name}' from {host.Name}.", Severity.Success);
        }
        catch (AgentException e)
        {
            _error = e.Message;
        }
        finally
        {
            _removing = null;
        }
    }
}
