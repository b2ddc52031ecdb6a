using System.Threading.Channels;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Hub;

/// <summary>Moves bytes between a client's input/output messages and a container process's streams.</summary>
public static class ProcessStreams
{
    /// <summary>
    /// Output messages (16 KiB each at most) waiting for the client of a hub exec. When they are not taken, the pump stops
    /// reading the process's streams, so a slow client slows the process (its writes block), never grows the agent.
    /// </summary>
    public const int OutputMessages = 16;

    /// <summary>What REST exec collects in memory (stdout and stderr together) before it gives up.</summary>
    public const long RestOutputLimit = 16L << 20;

    /// <summary>A bounded queue for <see cref="PumpOutputAsync"/>: writers wait while the client has not taken what is queued.</summary>
    public static Channel<ProcessOutput> OutputChannel() =>
        Channel.CreateBounded<ProcessOutput>(new BoundedChannelOptions(OutputMessages) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    /// <summary>
    /// Reads a REST exec's stdout and stderr to their ends, up to <paramref name="limit"/> bytes together; past that it
    /// throws (the caller's dispose then kills the process), so `cat /dev/zero` cannot fill the agent's memory.
    /// </summary>
    public static async Task<(string Stdout, string Stderr)> CollectAsync(Stream stdout, Stream? stderr, long limit, string command, CancellationToken ct)
    {
        using var over = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var total = new long[1];
        var output = ReadBoundedAsync(stdout, total, limit, over, ct);
        var error = stderr is null ? Task.FromResult(Array.Empty<byte>()) : ReadBoundedAsync(stderr, total, limit, over, ct);
        try
        {
            // Not waiting for a read that ignores the cancellation: the caller's dispose kills the process, which ends it.
            await Task.WhenAll(output, error).WaitAsync(over.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (Interlocked.Read(ref total[0]) > limit && !ct.IsCancellationRequested)
        {
        }

        if (Interlocked.Read(ref total[0]) > limit)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"'{command}' wrote more than {limit >> 20} MiB of output; REST exec collects output in memory and stops there. Use the hub's Exec stream or docker exec to stream large output, or redirect it to a file in the container.");
        }

        return (System.Text.Encoding.UTF8.GetString(await output.ConfigureAwait(false)), System.Text.Encoding.UTF8.GetString(await error.ConfigureAwait(false)));
    }

    private static async Task<byte[]> ReadBoundedAsync(Stream source, long[] total, long limit, CancellationTokenSource over, CancellationToken ct)
    {
        using var collected = new MemoryStream();
        var buffer = new byte[16384];
        int n;
        while ((n = await source.ReadAsync(buffer, over.Token).ConfigureAwait(false)) > 0)
        {
            if (Interlocked.Add(ref total[0], n) > limit)
            {
                await over.CancelAsync().ConfigureAwait(false); // the other stream stops too: the caller throws
                return [];
            }

            collected.Write(buffer, 0, n);
        }

        return collected.ToArray();
    }

    public static ProcessSpec Spec(ExecStart start) => new()
    {
        Command = start.Command,
        Environment = start.Environment,
        WorkingDirectory = start.WorkingDirectory,
        User = start.User,
        Tty = start.Tty,
        Stdin = start.Stdin,
        Columns = start.Columns,
        Rows = start.Rows,
    };

    public static async Task PumpInputAsync(IAsyncEnumerable<ProcessInput> input, Stream? stdin, Func<int, int, Task> resize, CancellationToken ct)
    {
        try
        {
            await foreach (var message in input.WithCancellation(ct).ConfigureAwait(false))
            {
                if (message is { Columns: { } columns, Rows: { } rows })
                {
                    await resize(columns, rows).ConfigureAwait(false);
                }

                if (stdin is not null && message.Data is { Length: > 0 } data)
                {
                    await stdin.WriteAsync(data, ct).ConfigureAwait(false);
                    await stdin.FlushAsync(ct).ConfigureAwait(false);
                }

                if (message.CloseStdin && stdin is not null)
                {
                    await stdin.DisposeAsync().ConfigureAwait(false);
                    stdin = null;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client went away or the process ended: nothing more to deliver.
        }
    }

    public static async Task PumpOutputAsync(IContainerProcess process, ChannelWriter<ProcessOutput> output, CancellationToken ct)
    {
        try
        {
            var pumps = new List<Task> { CopyAsync(process.StandardOutput, LogStream.Stdout, output, ct) };
            if (process.StandardError is { } stderr)
            {
                pumps.Add(CopyAsync(stderr, LogStream.Stderr, output, ct));
            }

            await Task.WhenAll(pumps).ConfigureAwait(false);
            output.TryComplete();
        }
        catch (Exception e)
        {
            output.TryComplete(e is OperationCanceledException ? null : e);
        }
    }

    private static async Task CopyAsync(Stream source, LogStream stream, ChannelWriter<ProcessOutput> output, CancellationToken ct)
    {
        var buffer = new byte[16384];
        int n;
        while ((n = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await output.WriteAsync(new ProcessOutput { Stream = stream, Data = buffer[..n] }, ct).ConfigureAwait(false);
        }
    }
}
