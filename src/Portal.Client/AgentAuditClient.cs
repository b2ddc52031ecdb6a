using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Client;

/// <summary>The real audit client: REST pages over the agent's HTTP address or socket, the live stream over its hub.</summary>
public sealed class AgentAuditClient : IAgentAuditClient
{
    private readonly HttpClient _http;
    private readonly string? _userAgent;
    private HubConnection? _hub;

    public AgentAuditClient(AgentEndpoint endpoint, string? userAgent = null)
    {
        Endpoint = endpoint;
        _userAgent = userAgent;
        _http = AgentTransport.CreateHttpClient(endpoint.BaseAddress, endpoint.SocketPath, endpoint.ApiKey, userAgent);
    }

    public AgentEndpoint Endpoint { get; }

    public Task<AuditPage> ReadAsync(AgentAuditFilter filter, long after, int limit, CancellationToken ct) =>
        AgentTransport.SendAsync<AuditPage>(_http, HttpMethod.Get, PathOf(filter, after, limit), null, Unreachable, ct);

    /// <summary>The REST path with the filter as its query, values escaped.</summary>
    public static string PathOf(AgentAuditFilter filter, long after, int limit)
    {
        var query = new List<string> { $"after={after.ToString(CultureInfo.InvariantCulture)}", $"limit={limit.ToString(CultureInfo.InvariantCulture)}" };
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                query.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }

        Add("since", filter.Since?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        Add("until", filter.Until?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        Add("actor", filter.Actor);
        Add("action", filter.Action);
        Add("target", filter.Target);
        Add("decision", filter.Decision?.ToString());
        Add("entryPoint", filter.EntryPoint?.ToString());
        return "api/audit?" + string.Join('&', query);
    }

    public async IAsyncEnumerable<AuditEntry> SubscribeAsync(long? after, [EnumeratorCancellation] CancellationToken ct)
    {
        if (_hub is not null)
        {
            throw new InvalidOperationException("This audit client already streams; make another for a second stream.");
        }

        _hub = AgentTransport.CreateHubConnection(Endpoint.BaseAddress, Endpoint.SocketPath, Endpoint.ApiKey, _userAgent);
        try
        {
            await _hub.StartAsync(ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            throw new AgentException(e.StatusCode.ToString()!, $"The agent at {Endpoint} refused the API key ({(int)e.StatusCode!}): the audit trail needs an Admin key.", (int)e.StatusCode!, e);
        }
        catch (Exception e) when (IsConnectionLoss(e))
        {
            throw Unreachable(e);
        }

        IAsyncEnumerator<AuditEntry> entries = _hub.StreamAsyncCore<AuditEntry>(nameof(IAgentHub.SubscribeAudit), [after], ct).GetAsyncEnumerator(ct);
        await using (entries.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await entries.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (HubException e)
                {
                    throw AgentException.FromHub(e);
                }
                catch (Exception e) when (IsConnectionLoss(e))
                {
                    throw Unreachable(e);
                }

                yield return entries.Current;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_hub is { } hub)
        {
            await hub.DisposeAsync().ConfigureAwait(false);
        }

        _http.Dispose();
    }

    private bool IsConnectionLoss(Exception e) =>
        e is IOException or WebSocketException or SocketException or HttpRequestException
        || (e is InvalidOperationException && _hub?.State != HubConnectionState.Connected);

    private AgentException Unreachable(Exception e) =>
        new(AgentException.Unreachable, $"The agent at {Endpoint} is not reachable: {e.Message}. Check that the agent runs and that the address is right.", null, e);
}

/// <summary>Makes real audit clients that name themselves with <paramref name="userAgent"/>.</summary>
public sealed class AgentAuditClientFactory(string? userAgent = null) : IAgentAuditClientFactory
{
    public IAgentAuditClient Create(AgentEndpoint endpoint) => new AgentAuditClient(endpoint, userAgent);
}
