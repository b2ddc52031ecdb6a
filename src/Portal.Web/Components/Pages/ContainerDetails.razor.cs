using Microsoft.AspNetCore.Components;
using MudBlazor;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Web.Components.Controls;
using Portal.Web.Hosts;
using Portal.Web.Model;

namespace Portal.Web.Components.Pages;

/// <summary>
/// One container: its settings, its output (optionally followed), the processes inside, and a chart of its CPU and
/// memory. Streams run on background tasks, marshal with InvokeAsync, and end when the page goes (Aspire's pattern).
/// </summary>
public sealed partial class ContainerDetails
{
    private const int MaxLogLines = 5000;
    private const int MaxSamples = 120;
    private static readonly TimeSpan LogFlushInterval = TimeSpan.FromMilliseconds(100);

    private readonly List<LogEntry> _log = [];
    private readonly List<ContainerUsage> _samples = [];
    private AgentHost? _host;
    private ContainerView? _view;
    private IReadOnlyList<ContainerProcessInfo> _processes = [];
    private CancellationTokenSource? _logStream;
    private CancellationTokenSource? _processStream;
    private string? _logError;
    private string? _processError;
    private bool _logsLoading;
    private bool _follow = true;
    private int _tail = 200;
    private int _tab;

    [Parameter]
    public string HostId { get; set; } = "";

    [Parameter]
    public string ContainerId { get; set; } = "";

    [Inject]
    private ContainerOperations Operations { get; set; } = default!;

    private List<ChartSeries<double>> CpuSeries =>
        [new() { Name = "CPU %", Data = new ChartData<double>(_samples.Select(s => Math.Round(s.CpuPercent ?? 0, 1)).ToArray()) }];

    private List<ChartSeries<double>> MemorySeries =>
        [new() { Name = "Memory MiB", Data = new ChartData<double>(_samples.Select(s => Math.Round(s.MemoryBytes / 1048576.0, 1)).ToArray()) }];

    private string[] Labels => [.. _samples.Select((s, i) => i % 10 == 0 ? s.At.ToLocalTime().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "")];

    protected override void OnInitialized()
    {
        Operations.Changed += OnOperationsChanged;
        base.OnInitialized();
        RestartLogs();
    }

    protected override void OnFleetChangedCore()
    {
        _host = Fleet.Find(HostId);
        var wasRunning = _view?.Container.State == ContainerState.Running;
        var previousId = _view?.Container.Id;
        _view = _host?.Containers.GetValueOrDefault(ContainerId)
            ?? _host?.Containers.Values.FirstOrDefault(v => v.Container.Name == ContainerId);
        if (_view is null)
        {
            return;
        }

        var running = _view.Container.State == ContainerState.Running;
        if (_host!.Usage.GetValueOrDefault(_view.Container.Id) is { } usage && (_samples.Count == 0 || _samples[^1].At < usage.At))
        {
            _samples.Add(usage);
            if (_samples.Count > MaxSamples)
            {
                _samples.RemoveAt(0);
            }
        }

        if (running && (!wasRunning || previousId != _view.Container.Id || _processStream is null))
        {
            RestartProcesses();
            if (!wasRunning && previousId is not null && _follow)
            {
                RestartLogs(); // a restarted container writes on: follow the new output
            }
        }
        else if (!running && _processStream is not null)
        {
            StopStream(ref _processStream);
            _processes = [];
        }
    }

    private Task SetFollowAsync(bool follow)
    {
        _follow = follow;
        RestartLogs();
        return Task.CompletedTask;
    }

    private Task SetTailAsync(int tail)
    {
        _tail = Math.Clamp(tail, 1, 10000);
        RestartLogs();
        return Task.CompletedTask;
    }

    private void RestartLogs()
    {
        StopStream(ref _logStream);
        _log.Clear();
        _logError = null;
        if (_host is null || _view is null)
        {
            return;
        }

        var cts = _logStream = new CancellationTokenSource();
        var host = _host;
        var id = _view.Container.Id;
        var (tail, follow) = (_tail, _follow);
        _logsLoading = true;
        _ = Task.Run(async () =>
        {
            var pending = new List<LogEntry>();
            var flushScheduled = 0;
            try
            {
                await foreach (var entry in host.Client.LogsAsync(id, tail, follow, cts.Token))
                {
                    lock (pending)
                    {
                        pending.Add(entry);
                    }

                    // Output can come by the thousand lines a second: hand it to the page in slices of a tenth of a second.
                    if (Interlocked.Exchange(ref flushScheduled, 1) == 0)
                    {
                        _ = Task.Delay(LogFlushInterval, cts.Token).ContinueWith(
                            _ => InvokeAsync(() =>
                            {
                                Interlocked.Exchange(ref flushScheduled, 0);
                                Flush(pending);
                            }),
                            CancellationToken.None,
                            TaskContinuationOptions.OnlyOnRanToCompletion,
                            TaskScheduler.Default);
                    }
                }
            }
            catch (AgentException e)
            {
                await InvokeAsync(() =>
                {
                    _logError = e.Message;
                    _logsLoading = false;
                    StateHasChanged();
                });
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (!cts.IsCancellationRequested)
            {
                await InvokeAsync(() => Flush(pending));
            }
        });
    }

    private void Flush(List<LogEntry> pending)
    {
        lock (pending)
        {
            _log.AddRange(pending);
            pending.Clear();
        }

        if (_log.Count > MaxLogLines)
        {
            _log.RemoveRange(0, _log.Count - MaxLogLines);
        }

        _logsLoading = false;
        StateHasChanged();
    }

    private void RestartProcesses()
    {
        StopStream(ref _processStream);
        _processError = null;
        if (_host is null || _view is null)
        {
            return;
        }

        var cts = _processStream = new CancellationTokenSource();
        var host = _host;
        var id = _view.Container.Id;
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var view in host.Client.SubscribeProcessesAsync(id, cts.Token))
                {
                    await InvokeAsync(() =>
                    {
                        _processes = view.Inside;
                        StateHasChanged();
                    });
                }
            }
            catch (AgentException e) when (!cts.IsCancellationRequested)
            {
                await InvokeAsync(() =>
                {
                    _processError = e.Message;
                    StateHasChanged();
                });
            }
            catch (OperationCanceledException)
            {
                // The page or the container moved on.
            }
        });
    }

    private static void StopStream(ref CancellationTokenSource? stream)
    {
        if (stream is { } cts)
        {
            cts.Cancel();
            cts.Dispose();
            stream = null;
        }
    }

    private void OnOperationsChanged() => _ = InvokeAsync(StateHasChanged);

    protected override void Dispose(bool disposing)
    {
        Operations.Changed -= OnOperationsChanged;
        StopStream(ref _logStream);
        StopStream(ref _processStream);
    }
}
