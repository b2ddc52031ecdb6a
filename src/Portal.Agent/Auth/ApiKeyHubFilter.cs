using Microsoft.AspNetCore.SignalR;
using Portal.Compute.Audit;
using Portal.Compute.Teams;

namespace Portal.Agent.Auth;

/// <summary>
/// Hub connections live as long as their key: each is tracked by its key (<see cref="KeyConnections"/>), aborted when the
/// key is rotated or revoked, and every invocation checks the key again, so nothing runs on a secret that no longer works.
/// </summary>
/// <remarks>
/// A team caller's connection lives as long as the membership it was admitted with (<see cref="TeamSessions"/> ends its
/// websocket when that changes); each invocation checks it again too.
/// </remarks>
public sealed class ApiKeyHubFilter(KeyConnections connections, TeamStore teams) : IHubFilter
{
    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        if (!connections.Add(context.Context.User, HubId(context.Context), context.Context.Abort))
        {
            throw new HubException("Unauthorized: the API key was rotated or revoked.");
        }

        await next(context).ConfigureAwait(false);
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        connections.Remove(context.Context.User, HubId(context.Context));
        await next(context, exception).ConfigureAwait(false);
    }

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (!connections.IsCurrent(invocationContext.Context.User))
        {
            invocationContext.Context.Abort();
            throw new HubException("Unauthorized: the API key was rotated or revoked; connect again with a current key.");
        }

        if (AuditCaller.Current is { Team: { } team } caller && !TeamSessions.Holds(teams, caller))
        {
            invocationContext.Context.Abort();
            throw new HubException($"Forbidden: this connection acts for team '{team}' as it was when it connected; the team or the membership changed since. Connect again.");
        }

        return await next(invocationContext).ConfigureAwait(false);
    }

    private static string HubId(HubCallerContext connection) => "hub:" + connection.ConnectionId;
}
