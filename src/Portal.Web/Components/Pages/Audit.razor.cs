using Microsoft.AspNetCore.Components;
using MudBlazor;
using Portal.Contracts;
using Portal.Web.Audit;

namespace Portal.Web.Components.Pages;

/// <summary>
/// The audit trail of every host and the portal, newest first, filtered by user, team, host, action, decision and time;
/// live (a new entry that matches the filters appears at the top); exported as CSV or JSON with the same filters.
/// </summary>
public sealed partial class Audit
{
    public const int PageSize = 200;
    private const string AllHosts = "";
    private const string AllDecisions = "";

    private readonly FilterForm _form = new();
    private readonly HashSet<string> _keys = [];
    private List<AuditRow> _rows = [];
    private List<AuditRow> _arrivedWhileLoading = [];
    private IReadOnlyList<MissingHost> _missing = [];
    private AuditSearch _search = AuditSearch.All;
    private IDisposable? _live;
    private CancellationTokenSource? _load;
    private int _limit = PageSize;
    private bool _loading;
    private bool _truncated;
    private string? _error;

    [Inject]
    private IAuditSource Source { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        // Following first, then reading: an entry recorded in between comes live (listed once).
        _live = await Source.FollowAsync(OnEntry, CancellationToken.None);
        await LoadAsync();
    }

    public void Dispose()
    {
        _live?.Dispose();
        _load?.Cancel();
        _load?.Dispose();
    }

    private async Task ApplyAsync()
    {
        AuditSearch search;
        try
        {
            search = _form.ToSearch();
        }
        catch (FormatException e)
        {
            _error = e.Message;
            return;
        }

        if (search.Problem() is { } problem)
        {
            _error = problem;
            return;
        }

        _search = search;
        _limit = PageSize;
        await LoadAsync();
    }

    /// <summary>A choice in a select applies at once (text fields apply with Enter or Apply).</summary>
    private async Task HostChangedAsync(string host)
    {
        _form.Host = host;
        await ApplyAsync();
    }

    private async Task DecisionChangedAsync(string decision)
    {
        _form.Decision = decision;
        await ApplyAsync();
    }

    private async Task ClearAsync()
    {
        _form.Clear();
        await ApplyAsync();
    }

    private async Task MoreAsync()
    {
        _limit += PageSize;
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        _load?.Cancel();
        _load?.Dispose();
        _load = new CancellationTokenSource();
        var ct = _load.Token;
        _error = null;
        _loading = true;
        _arrivedWhileLoading = [];
        try
        {
            var listing = await Source.ReadAsync(_search, _limit, ct);
            if (ct.IsCancellationRequested)
            {
                return;
            }

            // Entries recorded while the read ran came live too: merge them, once each.
            var rows = listing.Rows.Concat(_arrivedWhileLoading.Where(_search.Matches))
                .DistinctBy(r => r.Key)
                .OrderByDescending(r => r.Entry.Time)
                .ToList();
            _rows = rows;
            _keys.Clear();
            _keys.UnionWith(rows.Select(r => r.Key));
            _missing = listing.Missing;
            _truncated = listing.Truncated;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _error = $"Could not read the audit trail: {e.Message}";
        }
        finally
        {
            if (!ct.IsCancellationRequested)
            {
                _loading = false;
            }
        }
    }

    private void OnEntry(AuditRow row) => _ = InvokeAsync(() =>
    {
        if (_loading)
        {
            _arrivedWhileLoading.Add(row);
            return;
        }

        if (!_search.Matches(row) || !_keys.Add(row.Key))
        {
            return;
        }

        _rows.Insert(0, row);
        if (_rows.Count > _limit)
        {
            _keys.Remove(_rows[^1].Key);
            _rows.RemoveAt(_rows.Count - 1);
            _truncated = true;
        }

        StateHasChanged();
    });

    private static Color ColorOf(AuditDecision decision) => decision switch
    {
        AuditDecision.Allowed => Color.Success,
        AuditDecision.Denied => Color.Error,
        AuditDecision.Warned => Color.Warning,
        _ => Color.Default,
    };

    private static string Isolation(AuditEntry e) => e.RequestedIsolation is null && e.EffectiveIsolation is null
        ? ""
        : $"{e.RequestedIsolation?.ToString() ?? (e.Action == "container.create" ? "host default" : "-")} → {e.EffectiveIsolation?.ToString() ?? "-"}";

    private static string Short(string id) => id.Length > 12 ? id[..12] : id;

    /// <summary>What the filter fields hold, as typed; <see cref="ToSearch"/> checks and converts it.</summary>
    private sealed class FilterForm
    {
        public string? User { get; set; }

        public string? Team { get; set; }

        public string Host { get; set; } = AllHosts;

        public string? Action { get; set; }

        public string Decision { get; set; } = AllDecisions;

        public string? Since { get; set; }

        public string? Until { get; set; }

        public AuditSearch ToSearch() => new()
        {
            User = User,
            Team = Team,
            Host = string.IsNullOrEmpty(Host) ? null : Host,
            Action = Action,
            Decision = Enum.TryParse<AuditDecision>(Decision, out var d) ? d : null,
            Since = AuditSearch.ParseTime(Since, "Since (UTC)"),
            Until = AuditSearch.ParseTime(Until, "Until (UTC)"),
        };

        public void Clear()
        {
            User = Team = Action = Since = Until = null;
            Host = AllHosts;
            Decision = AllDecisions;
        }
    }
}
