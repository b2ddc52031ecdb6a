using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>The streaming container endpoints: attach (hijacked), logs and wait.</summary>
internal static class DockerContainerStreams
{
    public static void MapDockerContainerStreams(this IEndpointRouteBuilder app)
    {
        app.MapPost("/containers/{id}/attach", AttachAsync);
        app.MapGet("/containers/{id}/logs", LogsAsync);
        app.MapPost("/containers/{id}/wait", WaitAsync);
    }

    private static async Task AttachAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var stream = DockerQuery.Bool(http, "stream");
        var logs = DockerQuery.Bool(http, "logs");
        var wantStdin = DockerQuery.Bool(http, "stdin") && container.OpenStdin;
        var wantStdout = DockerQuery.Bool(http, "stdout");
        var wantStderr = DockerQuery.Bool(http, "stderr");
        var multiplexed = !container.Tty;
        var ct = http.RequestAborted;

        if (!stream)
        {
            // logs=1 alone: what was written so far, then the connection ends.
            var past = logs ? host.Containers.ReadLogsAsync(container.Id, null, follow: false, ct) : Nothing();
            var connection = await DockerHijack.StartAsync(http, multiplexed).ConfigureAwait(false);
            await WriteEntriesAsync(new DockerStreamWriter(connection.Output, multiplexed), past, wantStdout, wantStderr, timestamps: false, ct).ConfigureAwait(false);
            return;
        }

        // Not the request's abort token: Kestrel signals it when the client half-closes, which the docker CLI does at
        // once when it has no stdin to send. A client that really left is noticed when a write fails.
        using var outputDone = new CancellationTokenSource();
        await using var attachment = await host.Containers.AttachAsync(container.Id, includeEarlierOutput: logs, stdin: wantStdin, outputDone.Token).ConfigureAwait(false);
        using var registration = http.RequestServices.GetRequiredService<DockerAttachments>().Register(container.Id, attachment);
        var hijacked = await DockerHijack.StartAsync(http, multiplexed).ConfigureAwait(false);
        ct = outputDone.Token;
        var writer = new DockerStreamWriter(hijacked.Output, multiplexed);
        using var stopInput = new CancellationTokenSource();
        var input = attachment.Stdin is { } stdin && hijacked.Input is { } from
            ? ForwardStdinAsync(from, stdin, stopInput.Token)
            : Task.CompletedTask;
        try
        {
            await WriteEntriesAsync(writer, attachment.Output, wantStdout, wantStderr, timestamps: false, ct).ConfigureAwait(false);
        }
        finally
        {
            await stopInput.CancelAsync().ConfigureAwait(false);
            await input.ConfigureAwait(false);
        }
    }

    /// <summary>Client to container stdin until the client closes its side (docker half-closes after stdin's EOF).</summary>
    private static async Task ForwardStdinAsync(Stream from, Stream stdin, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await stdin.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }

            await stdin.DisposeAsync().ConfigureAwait(false); // EOF reaches the container
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or Portal.Compute.ComputeException)
        {
            // The container ended or the client left.
        }
    }

    private static async Task LogsAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var stdout = DockerQuery.Bool(http, "stdout");
        var stderr = DockerQuery.Bool(http, "stderr");
        if (!stdout && !stderr)
        {
            throw DockerApiException.BadParameter("Bad parameters: you must choose at least one stream");
        }

        var tailText = DockerQuery.String(http, "tail");
        int? tail = tailText is null or "all" ? null
            : int.TryParse(tailText, System.Globalization.CultureInfo.InvariantCulture, out var n) ? (n < 0 ? null : n)
            : throw DockerApiException.BadParameter($"invalid value for tail: \"{tailText}\": use a number or all");
        var follow = DockerQuery.Bool(http, "follow");
        var timestamps = DockerQuery.Bool(http, "timestamps");
        var entries = host.Containers.ReadLogsAsync(container.Id, tail, follow, http.RequestAborted);
        var multiplexed = !container.Tty;
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = DockerStreamWriter.ContentType(multiplexed);
        await http.Response.StartAsync(http.RequestAborted).ConfigureAwait(false);
        await WriteEntriesAsync(new DockerStreamWriter(http.Response.Body, multiplexed), entries, stdout, stderr, timestamps, http.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteEntriesAsync(DockerStreamWriter writer, IAsyncEnumerable<LogEntry> entries, bool stdout, bool stderr, bool timestamps, CancellationToken ct)
    {
        await foreach (var entry in entries.WithCancellation(ct).ConfigureAwait(false))
        {
            var isErr = entry.Stream == LogStream.Stderr;
            if (isErr ? !stderr : !stdout)
            {
                continue;
            }

            var text = timestamps ? DockerFormat.Time(entry.Timestamp) + " " + entry.Text : entry.Text;
            await writer.WriteAsync(isErr ? DockerStreamKind.Stderr : DockerStreamKind.Stdout, Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
        }
    }

#pragma warning disable CS1998 // an empty async stream
    private static async IAsyncEnumerable<LogEntry> Nothing()
    {
        yield break;
    }
#pragma warning restore CS1998

    private static async Task WaitAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var condition = DockerQuery.String(http, "condition");
        DockerContainerWaiter.Validate(condition);
        using var waiter = new DockerContainerWaiter(host, DockerQuery.Route(http, "id"));

        // dockerd answers the headers at once, so a client knows the wait is in place before it starts the container.
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await http.Response.StartAsync(http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        var code = await waiter.WaitAsync(condition, http.RequestAborted).ConfigureAwait(false);
        await http.Response.WriteAsync(JsonSerializer.Serialize(new DockerWaitResponse(code, null), DockerJson.Options) + "\n", http.RequestAborted).ConfigureAwait(false);
    }
}
