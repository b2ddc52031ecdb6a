using Portal.Contracts.Guest;

namespace Portal.Guest.Wire;

/// <summary>A decoded inbound frame.</summary>
internal sealed record InboundFrame(FrameKind Kind, uint Channel, byte[] Payload);

/// <summary>
/// Cuts a byte stream into frames (u32 BE length | u8 kind | u32 BE channel | payload). Bytes arrive in any chunking;
/// <see cref="Reset"/> drops a partial frame when the connection it came from is gone.
/// </summary>
internal sealed class FrameDecoder
{
    private readonly byte[] _header = new byte[GuestProtocol.HeaderLength];
    private int _headerFill;
    private byte[]? _payload;
    private int _payloadFill;
    private FrameKind _kind;
    private uint _channel;

    public bool HasPartialFrame => _headerFill > 0;

    public void Reset()
    {
        _headerFill = 0;
        _payload = null;
        _payloadFill = 0;
    }

    /// <summary>Consumes bytes and returns the frames they complete; throws InvalidDataException on a malformed header.</summary>
    public List<InboundFrame> Feed(ReadOnlySpan<byte> data)
    {
        var frames = new List<InboundFrame>();
        while (data.Length > 0)
        {
            if (_headerFill < _header.Length)
            {
                var take = Math.Min(_header.Length - _headerFill, data.Length);
                data[..take].CopyTo(_header.AsSpan(_headerFill));
                _headerFill += take;
                data = data[take..];
                if (_headerFill < _header.Length)
                {
                    break;
                }

                int length;
                try
                {
                    length = GuestProtocol.ReadHeader(_header, out _kind, out _channel);
                }
                catch (InvalidDataException)
                {
                    Reset();
                    throw;
                }

                _payload = length == 0 ? [] : new byte[length];
                _payloadFill = 0;
            }

            var payload = _payload!;
            var copy = Math.Min(payload.Length - _payloadFill, data.Length);
            data[..copy].CopyTo(payload.AsSpan(_payloadFill));
            _payloadFill += copy;
            data = data[copy..];
            if (_payloadFill == payload.Length)
            {
                frames.Add(new InboundFrame(_kind, _channel, payload));
                Reset();
            }
        }

        return frames;
    }
}
