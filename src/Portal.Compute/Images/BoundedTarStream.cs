using System.Text;

namespace Portal.Compute.Images;

/// <summary>
/// A forward-only view of a tar stream that looks at every 512-byte header before the tar reader does, so that
/// nothing the reader would allocate from a header is unbounded. System.Formats.Tar reads a PAX extended header or a
/// GNU long name/link record whole into memory as soon as it parses the header (a 5 MiB gzip declaring a 1.5 GiB
/// PAX record made one call allocate 1.5 GiB); here such records are refused above <see cref="MaxMetadataBytes"/>
/// (Go's archive/tar caps them at 1 MiB too). Every decompressed byte, skipped data included, is also counted against
/// the import's <see cref="ImportBudget"/>, with an entry's whole data charged when its header is read.
/// Not seekable, so the reader has to read (and this stream to see) every byte. Leaves the inner stream open.
/// </summary>
internal sealed class BoundedTarStream : Stream
{
    /// <summary>The largest PAX extended header or GNU long name/link record accepted, like Go's archive/tar.</summary>
    public const int MaxMetadataBytes = 1 << 20;

    private const int BlockSize = 512;

    /// <summary>Entries at least this large are checked against the free space at their header.</summary>
    private const long LargeEntryBytes = 1L << 20;

    private readonly Stream _inner;
    private readonly ImportBudget _budget;
    private readonly string _what;
    private readonly byte[] _header = new byte[BlockSize];
    private int _headerLength;
    private int _headerServed;
    private long _segmentRemaining;
    private long? _paxSize;
    private MemoryStream? _pax;
    private bool _ended;
    private long _position;

    public BoundedTarStream(Stream inner, ImportBudget budget, string what)
    {
        _inner = inner;
        _budget = budget;
        _what = what;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        if (NeedsHeader())
        {
            _headerLength = _inner.ReadAtLeast(_header, BlockSize, throwOnEndOfStream: false);
            OnHeader();
        }

        if (_headerServed < _headerLength)
        {
            return ServeHeader(buffer);
        }

        var n = _inner.Read(buffer[..Limit(buffer.Length)]);
        return Passed(buffer[..n]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        if (NeedsHeader())
        {
            _headerLength = await _inner.ReadAtLeastAsync(_header, BlockSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            OnHeader();
        }

        if (_headerServed < _headerLength)
        {
            return ServeHeader(buffer.Span);
        }

        var n = await _inner.ReadAsync(buffer[..Limit(buffer.Length)], cancellationToken).ConfigureAwait(false);
        return Passed(buffer.Span[..n]);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Parses a size field: octal digits (space or NUL terminated) or GNU base-256 (high bit of the first byte set).</summary>
    internal static long? ParseSize(ReadOnlySpan<byte> field)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            if (field[0] == 0xff)
            {
                return null; // negative
            }

            long value = field[0] & 0x7f;
            foreach (var b in field[1..])
            {
                if (value > (long.MaxValue >> 8))
                {
                    return null;
                }

                value = (value << 8) | b;
            }

            return value;
        }

        var i = 0;
        while (i < field.Length && (field[i] == ' ' || field[i] == 0))
        {
            i++;
        }

        long octal = 0;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++)
        {
            if (octal > (long.MaxValue >> 3))
            {
                return null;
            }

            octal = (octal << 3) | (long)(field[i] - '0');
        }

        return octal;
    }

    /// <summary>The "size" record of a PAX extended header ("&lt;len&gt; size=&lt;n&gt;\n"), when it has one.</summary>
    internal static long? PaxSize(ReadOnlySpan<byte> records)
    {
        long? size = null;
        while (records.Length > 0)
        {
            var space = records.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(records[..space]), out var length) || length <= space || length > records.Length)
            {
                break; // malformed: the tar reader refuses it
            }

            var record = records[(space + 1)..length];
            if (record.Length > 0 && record[^1] == '\n')
            {
                record = record[..^1];
            }

            if (record.StartsWith("size="u8) && long.TryParse(Encoding.ASCII.GetString(record["size=".Length..]), out var n) && n >= 0)
            {
                size = n;
            }

            records = records[length..];
        }

        return size;
    }

    private bool NeedsHeader() => !_ended && _segmentRemaining == 0 && _headerServed >= _headerLength;

    private int Limit(int wanted) => _ended ? wanted : (int)Math.Min(wanted, _segmentRemaining);

    private int ServeHeader(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _headerLength - _headerServed);
        _header.AsSpan(_headerServed, n).CopyTo(buffer);
        _headerServed += n;
        _position += n;
        return n;
    }

    private int Passed(ReadOnlySpan<byte> data)
    {
        _position += data.Length;
        if (_ended)
        {
            _budget.TakeBytes(data.Length, _what, "(after the end of the archive)");
            return data.Length;
        }

        _segmentRemaining -= data.Length;
        if (_pax is not null)
        {
            _pax.Write(data);
            if (_segmentRemaining == 0)
            {
                _paxSize = PaxSize(_pax.GetBuffer().AsSpan(0, (int)_pax.Length));
                _pax = null;
            }
        }

        if (data.Length == 0)
        {
            _segmentRemaining = 0; // truncated: the tar reader reports it
            _ended = true;
        }

        return data.Length;
    }

    private void OnHeader()
    {
        _headerServed = 0;
        if (_headerLength < BlockSize || !_header.AsSpan().ContainsAnyExcept((byte)0))
        {
            // End of archive (or a truncated header the tar reader refuses): the rest passes through uncounted as entries.
            _ended = true;
            _budget.TakeBytes(_headerLength, _what, "(the end of the archive)");
            return;
        }

        var type = (char)_header[156];
        var name = EntryName();
        var size = ParseSize(_header.AsSpan(124, 12)) ?? 0;
        long dataSize;
        switch (type)
        {
            case 'x' or 'g' or 'L' or 'K':
                if (size > MaxMetadataBytes)
                {
                    var kind = type switch
                    {
                        'x' => "a PAX extended header",
                        'g' => "a PAX global header",
                        'L' => "a GNU long name record",
                        _ => "a GNU long link record",
                    };
                    throw new ComputeException(
                        ComputeErrorCode.ImageRejected,
                        $"{Capitalize(_what)}: entry '{name}' at offset {_position} is {kind} of {size} bytes; such records may be at most {MaxMetadataBytes} bytes " +
                        "(a possible tar bomb). The image was not imported; rebuild the archive with shorter names and fewer extended attributes.");
                }

                dataSize = size;
                _pax = type == 'x' ? new MemoryStream((int)size) : null;
                break;
            case '1' or '2' or '3' or '4' or '5' or '6':
                // Header-only types carry no data; the tar reader refuses a size on them.
                dataSize = 0;
                _paxSize = null;
                break;
            default:
                dataSize = _paxSize ?? size;
                _paxSize = null;
                break;
        }

        _segmentRemaining = (dataSize + BlockSize - 1) / BlockSize * BlockSize;
        _budget.TakeBytes(BlockSize + _segmentRemaining, _what, name);
        if (dataSize >= LargeEntryBytes)
        {
            // A large file is checked against the free space before a byte of it is written.
            _budget.EnsureFreeSpace(dataSize, $"{_what}, entry '{name}'");
        }
        if (_segmentRemaining == 0)
        {
            _pax = null;
        }
    }

    /// <summary>The entry's name from the header (ustar prefix + name), for messages only.</summary>
    private string EntryName()
    {
        var name = CString(_header.AsSpan(0, 100));
        if (_header.AsSpan(257, 5).SequenceEqual("ustar"u8))
        {
            var prefix = CString(_header.AsSpan(345, 155));
            if (prefix.Length > 0)
            {
                name = prefix + "/" + name;
            }
        }

        return name;
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

}
