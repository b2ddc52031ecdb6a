using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Portal.Contracts.Hub;

namespace Portal.Bench.Hub;

/// <summary>
/// One client of the agent's hub, on its own websocket, subscribed to SubscribeContainers; it records when each
/// container transition first reached it (the local clock, taken as the batch arrives, before anything else is done).
/// </summary>
public sealed class HubSubscriber : IAsyncDisposable
{
    private readonly HubConnection _connection;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<int> _snapshot = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ContainerTransition, Arrival> _arrivals = new();
    private Task _reading = Task.CompletedTask;

    public HubSubscriber(int number, AgentProcess agent)
    {
        Number = number;
        _connection = Connect(agent);
    }

    public int Number { get; }

    /// <summary>The number of containers in the snapshot, once it arrived.</summary>
    public Task<int> Snapshot => _snapshot.Task;

    public int Batches { get; private set; }

    /// <summary>The stream's failure, if it ended early.</summary>
    public Exception? Failure { get; private set; }

    public bool TryGetArrival(ContainerTransition transition, out Arrival arrival) => _arrivals.TryGetValue(transition, out arrival);

    /// <summary>A hub connection as the portal makes one: websockets, JSON with enums as strings, the key as the access token.</summary>
    public static HubConnection Connect(AgentProcess agent) => new HubConnectionBuilder()
        .WithUrl(new Uri(agent.BaseAddress, "hubs/agent"), o =>
        {
            o.Transports = HttpTransportType.WebSockets;
            o.AccessTokenProvider = () => Task.FromResult<string?>(agent.AdminKey);
        })
        .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter()))
        .Build();

    public async Task StartAsync(CancellationToken ct)
    {
        await _connection.StartAsync(ct);
        var stream = _connection.StreamAsync<ChangeBatch<ContainerView>>(nameof(IAgentHub.SubscribeContainers), _stop.Token);
        _reading = Task.Run(() => ReadAsync(stream));
    }

    private async Task ReadAsync(IAsyncEnumerable<ChangeBatch<ContainerView>> stream)
    {
        try
        {
            await foreach (var batch in stream)
            {
                var received = DateTimeOffset.UtcNow;
                Batches++;
                if (batch.IsSnapshot)
                {
                    _snapshot.TrySetResult(batch.Changes.Count);
                    continue;
                }

                foreach (var change in batch.Changes)
                {
                    if (change is { Kind: ChangeKind.Upsert, Item: { } view } && ContainerTransition.Of(view.Container) is { } transition)
                    {
                        _arrivals.TryAdd(transition, new Arrival(received, batch.At));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Failure = e;
            _snapshot.TrySetException(e);
        }
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

    /// <summary>When a transition reached this subscriber, and the time the agent stamped on the batch that carried it.</summary>
    public readonly record struct Arrival(DateTimeOffset Received, DateTimeOffset BatchAt);
}
