using System.Buffers.Binary;

namespace Portal.Docker;

/// <summary>Which stream a frame of a multiplexed docker stream carries (the first byte of its 8-byte header).</summary>
public enum DockerStreamKind : byte
{
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// <summary>
/// Writes container output as docker does: without a TTY, frames of [kind, 0, 0, 0, big-endian uint32 size] then
/// the payload (application/vnd.docker.multiplexed-stream); with a TTY, the raw bytes. Safe for concurrent writers.
/// </summary>
public sealed class DockerStreamWriter(Stream output, bool multiplexed)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public static string ContentType(bool multiplexed) =>
        multiplexed ? "application/vnd.docker.multiplexed-stream" : "application/vnd.docker.raw-stream";

    public async Task WriteAsync(DockerStreamKind kind, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (data.IsEmpty)
        {
            return;
        }

        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (multiplexed)
            {
                var header = new byte[8];
                header[0] = (byte)kind;
                BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)data.Length);
                await output.WriteAsync(header, ct).ConfigureAwait(false);
            }

            await output.WriteAsync(data, ct).ConfigureAwait(false);
            await output.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Copies a process's output stream until it ends.</summary>
    public async Task PumpAsync(Stream source, DockerStreamKind kind, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        int n;
        while ((n = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await WriteAsync(kind, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
    }
}
