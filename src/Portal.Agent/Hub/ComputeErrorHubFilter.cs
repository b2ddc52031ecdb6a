using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;
using Portal.Compute;

namespace Portal.Agent.Hub;

/// <summary>
/// Every hub call waits until the compute host is ready (the hub's one readiness check), and a ComputeException becomes
/// a HubException the client sees as "Code: message" (the one error model, hub edition).
/// </summary>
public sealed class ComputeErrorHubFilter : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            await invocationContext.ServiceProvider.GetRequiredService<ComputeHostService>().Ready.WaitAsync(invocationContext.Context.ConnectionAborted);
            return await next(invocationContext);
        }
        catch (ComputeException e)
        {
            throw HubErrors.From(e);
        }
    }
}

public static class HubErrors
{
    public static HubException From(ComputeException e) => new($"{e.Code}: {e.Message}");

    /// <summary>The same mapping for streams, whose errors surface while they are enumerated.</summary>
    public static async IAsyncEnumerable<T> Guard<T>(IAsyncEnumerable<T> source, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var items = source.GetAsyncEnumerator(ct);
        while (true)
        {
            bool more;
            try
            {
                more = await items.MoveNextAsync();
            }
            catch (ComputeException e)
            {
                throw From(e);
            }

            if (!more)
            {
                yield break;
            }

            yield return items.Current;
        }
    }
}
