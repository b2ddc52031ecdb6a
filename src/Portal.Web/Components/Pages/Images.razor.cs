using Microsoft.AspNetCore.Components.Forms;
using MudBlazor;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Hosts;
using Portal.Web.Model;

namespace Portal.Web.Components.Pages;

/// <summary>A host's images: list, import an archive with upload and import progress, remove or untag with confirmation.</summary>
public sealed partial class Images
{
    /// <summary>The largest archive the browser may upload through the portal.</summary>
    public const long MaxImportBytes = 4L << 30;

    private IReadOnlyList<ImageInfo> _images = [];
    private string? _hostId;
    private string? _tag;
    private string? _error;
    private string? _progress;
    private string? _removing;
    private long _uploaded;
    private long? _uploadTotal;
    private int? _knownImageCount;
    private bool _loading;

    protected override async Task OnInitializedAsync()
    {
        _hostId = Fleet.Hosts.FirstOrDefault(h => h.State == HostConnectionState.Connected)?.Id ?? Fleet.Hosts.FirstOrDefault()?.Id;
        await LoadAsync();
    }

    /// <summary>The agent has no image subscription: reload when the host's image count moves.</summary>
    protected override void OnFleetChangedCore()
    {
        if (_hostId is not null && Fleet.Find(_hostId)?.Info?.Images is { } count && count != _knownImageCount)
        {
            var first = _knownImageCount is null;
            _knownImageCount = count;
            if (!first && !_loading && _progress is null)
            {
                _ = InvokeAsync(LoadAsync);
            }
        }
    }

    private async Task SelectHostAsync(string hostId)
    {
        _hostId = hostId;
        _error = null;
        _knownImageCount = null;
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        if (_hostId is null || Fleet.Find(_hostId) is not { } host)
        {
            _images = [];
            return;
        }

        _loading = true;
        try
        {
            _images = [.. (await host.Client.ListImagesAsync(CancellationToken.None)).OrderBy(Name, StringComparer.Ordinal)];
        }
        catch (AgentException e)
        {
            _images = [];
            _error = e.Message;
        }
        finally
        {
            _loading = false;
            StateHasChanged();
        }
    }

    private async Task ImportAsync(InputFileChangeEventArgs e)
    {
        if (_hostId is null || Fleet.Find(_hostId) is not { } host)
        {
            _error = "Choose a host first.";
            return;
        }

        var file = e.File;
        if (file.Size > MaxImportBytes)
        {
            _error = $"'{file.Name}' is {Format.Bytes(file.Size)}: the portal uploads archives up to {Format.Bytes(MaxImportBytes)}. Copy larger ones to the host and import them there (docker load).";
            return;
        }

        _error = null;
        _uploaded = 0;
        _uploadTotal = file.Size;
        _progress = $"Uploading {file.Name} ...";
        var lastPercent = -1;
        var progress = new Progress<long>(sent =>
        {
            _uploaded = sent;
            var percent = (int)(100 * sent / Math.Max(1, file.Size));
            if (percent != lastPercent)
            {
                lastPercent = percent;
                _progress = sent < file.Size
                    ? $"Uploading {file.Name}: {Format.Bytes(sent)} of {Format.Bytes(file.Size)} ({percent} %)"
                    : $"Importing {file.Name} on {host.Name}: verifying layers and building the image disk ...";
                StateHasChanged();
            }
        });
        try
        {
            await using var stream = file.OpenReadStream(MaxImportBytes);
            var imported = await host.Client.ImportImageAsync(stream, file.Size, _tag, progress, CancellationToken.None);
            Snackbar.Add($"Imported {string.Join(", ", imported.Select(Name))} on {host.Name}.", Severity.Success);
            _tag = null;
        }
        catch (AgentException ex)
        {
            _error = $"Importing '{file.Name}' failed: {ex.Message}";
        }
        catch (IOException ex)
        {
            _error = $"Reading '{file.Name}' from the browser failed: {ex.Message} Try again.";
        }
        finally
        {
            _progress = null;
            _uploadTotal = null;
        }

        await LoadAsync();
    }

    private Task RemoveImageAsync(ImageInfo image) =>
        RemoveAsync(image.Id, $"Remove image {Name(image)}?", "Its disk is deleted; this cannot be undone. Containers that use it must be removed first.", "Remove");

    private Task UntagAsync(string tag) =>
        RemoveAsync(tag, $"Untag '{tag}'?", $"'{tag}' stops naming this image; its other names and its disk stay.", "Untag");

    private async Task RemoveAsync(string reference, string title, string message, string action)
    {
        if (_hostId is null || Fleet.Find(_hostId) is not { } host)
        {
            return;
        }

        if (await Dialogs.ShowMessageBoxAsync(title, message, yesText: action, cancelText: "Cancel") != true)
        {
            return;
        }

        _removing = reference;
        _error = null;
        try
        {
            await host.Client.RemoveImageAsync(reference, CancellationToken.None);
            Snackbar.Add($"{action}: {reference} done.", Severity.Success);
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

    private static string Name(ImageInfo image) => image.Tags.Count > 0 ? image.Tags[0] : ShortId(image.Id);

    private static string ShortId(string id) => id.StartsWith("sha256:", StringComparison.Ordinal) && id.Length > 19 ? id[7..19] : id;
}
