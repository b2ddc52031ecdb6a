using System.Globalization;
using System.Text;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// Writes a container's output in the CRI "k8s-file" format conmon writes, so <see cref="Containers.ContainerLog"/>
/// reads VM-isolated containers' logs like any other: "&lt;RFC3339Nano&gt; stdout|stderr F|P &lt;text&gt;", F for a
/// line that ended in a newline, P for a partial line (output that ended without one).
/// </summary>
internal sealed class ContainerLogWriter : IDisposable
{
    private static readonly byte[] Stdout = "stdout"u8.ToArray();
    private static readonly byte[] Stderr = "stderr"u8.ToArray();

    private readonly FileStream _file;
    private readonly Func<DateTimeOffset> _clock;
    private readonly Lock _lock = new();

    public ContainerLogWriter(string path, Func<DateTimeOffset>? clock = null)
    {
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
    }

    /// <summary>Appends one chunk of output: every complete line as F, a trailing remainder as P.</summary>
    public void Write(bool stderr, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        lock (_lock)
        {
            var prefix = Prefix(stderr);
            while (!data.IsEmpty)
            {
                var newline = data.IndexOf((byte)'\n');
                var full = newline >= 0;
                var line = full ? data[..newline] : data;
                _file.Write(prefix);
                _file.Write(full ? " F "u8 : " P "u8);
                _file.Write(line);
                _file.WriteByte((byte)'\n');
                data = full ? data[(newline + 1)..] : [];
            }

            _file.Flush();
        }
    }

    private byte[] Prefix(bool stderr)
    {
        // RFC3339 with nanoseconds, as conmon writes it.
        var now = _clock();
        var text = now.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture) + "00" + now.ToString("zzz", CultureInfo.InvariantCulture) + " ";
        var bytes = Encoding.ASCII.GetBytes(text);
        return [.. bytes, .. (stderr ? Stderr : Stdout)];
    }

    public void Dispose() => _file.Dispose();
}
