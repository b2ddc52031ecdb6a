using System.Threading.Channels;
using Portal.Compute.Containers;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Hub;

/// <summary>Moves bytes between a client's input/output messages and a container process's streams.</summary>
public static class ProcessStreams
{
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
