using System.Globalization;
using System.Text;
using Portal.Compute.Containers;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// Writes a container's output in the CRI "k8s-file" format conmon writes, so <see cref="Containers.ContainerLog"/>
/// reads VM-isolated containers' logs like any other: "&lt;RFC3339Nano&gt; stdout|stderr F|P &lt;text&gt;", F for a
/// line that ended in a newline, P for a partial line (output that ended without one). The file is rotated before a
/// record would take it past <see cref="LogRotation.MaxBytes"/> (a record is never split), keeping
/// <see cref="LogRotation.MaxFiles"/> files, as docker's json-file driver does.
/// </summary>
internal sealed class ContainerLogWriter : IDisposable
{
    private static readonly byte[] Stdout = "stdout"u8.ToArray();
    private static readonly byte[] Stderr = "stderr"u8.ToArray();

    private readonly string _path;
    private readonly LogRotation _rotation;
    private readonly Func<DateTimeOffset> _clock;
    private readonly Lock _lock = new();
    private FileStream _file;

    public ContainerLogWriter(string path, LogRotation? rotation = null, Func<DateTimeOffset>? clock = null)
    {
        _path = path;
        _rotation = rotation ?? ComputeOptions.DefaultLogRotation;
        _file = Open(path);
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
                var record = prefix.Length + 3 + line.Length + 1;
                if (_file.Length > 0 && _file.Length + record > _rotation.MaxBytes)
                {
                    Rotate();
                }

                _file.Write(prefix);
                _file.Write(full ? " F "u8 : " P "u8);
                _file.Write(line);
                _file.WriteByte((byte)'\n');
                data = full ? data[(newline + 1)..] : [];
            }

            _file.Flush();
        }
    }

    private static FileStream Open(string path) => new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private void Rotate()
    {
        _file.Flush();
        _file.Dispose();
        _rotation.Rotate(_path);
        _file = Open(_path);
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
