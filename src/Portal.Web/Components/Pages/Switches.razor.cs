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
    private (HostConnectionState State, int? Containers)? _known;
    private bool _loading;

    protected override async Task OnInitializedAsync()
    {
        _hostId = Fleet.Hosts.FirstOrDefault(h => h.State == HostConnectionState.Connected)?.Id ?? Fleet.Hosts.FirstOrDefault()?.Id;
        _known = Observed();
        await LoadAsync();
    }

    /// <summary>
    /// Containers join a switch when created and leave it when removed, anywhere (docker, PowerShell): reload when the host's
    /// container count moves or it reconnects.
    /// </summary>
    protected override void OnFleetChangedCore()
    {
        if (_hostId is null || Observed() is not { } now || now == _known)
        {
            return;
        }

        _known = now;
        if (!_loading && _removing is null && now.State == HostConnectionState.Connected)
        {
            _ = InvokeAsync(LoadAsync);
        }
    }

    private (HostConnectionState State, int? Containers)? Observed() =>
        _hostId is not null && Fleet.Find(_hostId) is { } host ? (host.State, host.Info?.Containers) : null;

    private async Task SelectHostAsync(string hostId)
    {
        _hostId = hostId;
        _error = null;
        _known = Observed();
        _switches = [];
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        if (_hostId is null || Fleet.Find(_hostId) is not { } host)
        {
            _switches = [];
            return;
        }

        _loading = true;
        try
        {
            var switches = await host.Client.ListSwitchesAsync(CancellationToken.None);
            _switches = [.. switches.OrderBy(s => !s.IsBuiltIn).ThenBy(s => !s.IsDefault).ThenBy(s => s.Name, StringComparer.OrdinalIgnoreCase)];
        }
        catch (AgentException e)
        {
            _switches = [];
            _error = e.Message;
        }
        finally
        {
            _loading = false;
            StateHasChanged();
        }
    }

    private async Task CreateAsync()
    {
        if (_hostId is null)
        {
            return;
        }

        var parameters = new DialogParameters<CreateSwitchDialog> { { d => d.HostId, _hostId } };
        var dialog = await Dialogs.ShowAsync<CreateSwitchDialog>("New switch", parameters, new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true, CloseOnEscapeKey = true });
        if (await dialog.Result is { Canceled: false })
        {
            _error = null;
            await LoadAsync();
        }
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

        await LoadAsync();
    }
}
