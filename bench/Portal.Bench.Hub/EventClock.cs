using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Bench.Hub;

/// <summary>
/// The time each transition was raised inside the agent: ContainerEvent.At from SubscribeEvents, stamped by the
/// compute service as it hands the event to the hub's fan-out (after the state file is written). One extra hub
/// connection; it is the zero of the measured latency.
/// </summary>
public sealed class EventClock : IAsyncDisposable
{
    private readonly HubConnection _connection;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<ContainerTransition, DateTimeOffset> _raised = new();
    private Task _reading = Task.CompletedTask;

    public EventClock(AgentProcess agent) => _connection = HubSubscriber.Connect(agent);

    public Exception? Failure { get; private set; }

    public bool TryGetRaisedAt(ContainerTransition transition, out DateTimeOffset raisedAt) => _raised.TryGetValue(transition, out raisedAt);

    public async Task StartAsync(CancellationToken ct)
    {
        await _connection.StartAsync(ct);
        var stream = _connection.StreamAsync<ContainerEvent>(nameof(IAgentHub.SubscribeEvents), _stop.Token);
        _reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in stream)
                {
                    if (e.Kind is ContainerEventKind.Started or ContainerEventKind.Stopped && ContainerTransition.Of(e.Container) is { } transition)
                    {
                        _raised.TryAdd(transition, e.At);
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Failure = e;
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _reading.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }

        await _connection.DisposeAsync();
        _stop.Dispose();
    }
}
