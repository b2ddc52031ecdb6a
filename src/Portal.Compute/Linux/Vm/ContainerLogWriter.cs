using System.Buffers.Binary;
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
///
/// Sequenced output (guest protocol 3) is written exactly once across agent restarts: after each chunk the writer
/// records, in "&lt;log&gt;.delivered", the guest's boot id, the last sequence number of each stream and the log's
/// length (one small write, so a killed agent leaves either the old record or the new one). Only then is the chunk
/// acknowledged to the guest. <see cref="Resume"/> cuts off what a killed agent wrote after its last record (the guest
/// sends it again) and says from which sequence numbers on output is new. (A kill between a rotation and the next
/// record cuts nothing: those lines may come twice.)
/// </summary>
internal sealed class ContainerLogWriter : IDisposable
{
    public const string DeliveredSuffix = ".delivered";

    private const int BootLength = 64;
    private const int RecordLength = BootLength + 3 * sizeof(ulong);
    private static readonly byte[] Stdout = "stdout"u8.ToArray();
    private static readonly byte[] Stderr = "stderr"u8.ToArray();

    private readonly string _path;
    private readonly LogRotation _rotation;
    private readonly Func<DateTimeOffset> _clock;
    private readonly Lock _lock = new();
    private FileStream _file;
    private string? _boot;
    private ulong _stdout;
    private ulong _stderr;

    public ContainerLogWriter(string path, LogRotation? rotation = null, Func<DateTimeOffset>? clock = null)
    {
        _path = path;
        _rotation = rotation ?? ComputeOptions.DefaultLogRotation;
        _file = Open(path);
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
    }

    private string DeliveredPath => _path + DeliveredSuffix;

    /// <summary>
    /// Starts (or resumes) recording what was delivered of the guest boot <paramref name="boot"/>. When the record is of
    /// that boot, the log is cut back to the length it recorded and its sequence numbers are returned: the guest sends
    /// everything after them again. A new boot starts from (0, 0). Null (an older guest): nothing is recorded.
    /// </summary>
    public (ulong Stdout, ulong Stderr) Resume(string? boot)
    {
        lock (_lock)
        {
            _boot = BootId(boot);
            if (_boot is null)
            {
                return (0, 0);
            }

            if (ReadRecord() is { } record && record.Boot == _boot)
            {
                if (new FileInfo(_path).Length > record.Length)
                {
                    // A killed agent wrote these lines but did not record (nor acknowledge) them: they come again.
                    _file.Dispose();
                    using (var handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                    {
                        RandomAccess.SetLength(handle, record.Length);
                    }

                    _file = Open(_path);
                }

                (_stdout, _stderr) = (record.Stdout, record.Stderr);
            }
            else
            {
                (_stdout, _stderr) = (0, 0);
                WriteRecord();
            }

            return (_stdout, _stderr);
        }
    }

    /// <summary>Appends one chunk of output: every complete line as F, a trailing remainder as P.</summary>
    public void Write(bool stderr, ReadOnlySpan<byte> data) => Write(stderr, data, 0);

    /// <summary>Appends a chunk and, for a sequenced one, records it as delivered (then it may be acknowledged).</summary>
    public void Write(bool stderr, ReadOnlySpan<byte> data, ulong sequence)
    {
        lock (_lock)
        {
            if (!data.IsEmpty)
            {
                var prefix = Prefix(stderr);
                while (!data.IsEmpty)
                {
                    var newline = data.IndexOf((byte)'\n');
                    var full = newline >= 0;
                    var line = full ? data[..newline] : data;
                    if (_file.Length > 0 && _file.Length + prefix.Length + 3 + line.Length + 1 > _rotation.MaxBytes)
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

            if (sequence > 0 && _boot is not null)
            {
                if (stderr)
                {
                    _stderr = Math.Max(_stderr, sequence);
                }
                else
                {
                    _stdout = Math.Max(_stdout, sequence);
                }

                WriteRecord();
            }
        }
    }

    /// <summary>
    /// The guest's boot id as it is stored: printable ASCII without spaces, at most <see cref="BootLength"/> characters.
    /// The guest chooses it, so anything else (which would not read back equal) is dropped; null or empty: no record.
    /// </summary>
    internal static string? BootId(string? boot)
    {
        var clean = boot is null ? "" : new string(boot.Where(c => c is > ' ' and < (char)127).Take(BootLength).ToArray());
        return clean.Length == 0 ? null : clean;
    }

    private void WriteRecord()
    {
        Span<byte> record = stackalloc byte[RecordLength];
        record.Fill((byte)' ');
        Encoding.ASCII.GetBytes(_boot!, record);
        BinaryPrimitives.WriteUInt64BigEndian(record[BootLength..], _stdout);
        BinaryPrimitives.WriteUInt64BigEndian(record[(BootLength + 8)..], _stderr);
        BinaryPrimitives.WriteUInt64BigEndian(record[(BootLength + 16)..], (ulong)_file.Length);
        using var handle = File.OpenHandle(DeliveredPath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        RandomAccess.Write(handle, record, 0); // one write: a killed agent leaves the old record or this one
    }

    private (string Boot, ulong Stdout, ulong Stderr, long Length)? ReadRecord()
    {
        try
        {
            var bytes = File.ReadAllBytes(DeliveredPath);
            if (bytes.Length != RecordLength)
            {
                return null;
            }

            return (Encoding.ASCII.GetString(bytes, 0, BootLength).TrimEnd(' '),
                BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(BootLength)),
                BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(BootLength + 8)),
                (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(BootLength + 16)));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    private static FileStream Open(string path) => new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private void Rotate()
    {
        _file.Flush();
        _file.Dispose();
        _rotation.Rotate(_path);
        _file = Open(_path);
        if (_boot is not null)
        {
            // The record's length is of the file written now: a record of the old file's length would cut the new one.
            WriteRecord();
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

    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }
}
