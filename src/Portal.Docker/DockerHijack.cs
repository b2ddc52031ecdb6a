using Microsoft.AspNetCore.Http.Features;

namespace Portal.Docker;

/// <summary>The two directions of a hijacked docker connection; Input is null when the client did not upgrade (no stdin then).</summary>
public sealed record DockerConnection(Stream Output, Stream? Input);

/// <summary>
/// Docker's connection hijack: with "Connection: Upgrade, Upgrade: tcp" the answer is 101 and the connection then
/// carries the raw or multiplexed stream both ways; without it, the stream is the body of a 200.
/// </summary>
internal static class DockerHijack
{
    public static async Task<DockerConnection> StartAsync(HttpContext http, bool multiplexed)
    {
        http.Response.Headers.ContentType = DockerStreamWriter.ContentType(multiplexed);
        var upgrade = http.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            http.Response.Headers.Upgrade = "tcp";
            var stream = await upgrade.UpgradeAsync().ConfigureAwait(false);
            return new DockerConnection(stream, stream);
        }

        http.Response.StatusCode = StatusCodes.Status200OK;
        await http.Response.StartAsync(http.RequestAborted).ConfigureAwait(false);
        return new DockerConnection(http.Response.Body, null);
    }
}
