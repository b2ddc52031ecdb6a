using System.Buffers.Binary;
using Portal.Contracts.Guest;

namespace Portal.Guest.Wire;

/// <summary>
/// One frame waiting to go to the host. ExitedProcess is set on a ProcessExitedEvent (it is re-sent on every Hello);
/// Sequence numbers an output frame within its process's stream (from 1), for acknowledgements (protocol 3).
/// </summary>
internal sealed record OutboundFrame(FrameKind Kind, uint Channel, byte[] Payload, uint? ExitedProcess = null, ulong Sequence = 0)
{
    public bool IsOutput => Kind is FrameKind.Stdout or FrameKind.Stderr;

    /// <summary>The frame as the session's protocol version has it: output carries its sequence number from version 3.</summary>
    public byte[] Encode(int version = GuestProtocol.Version)
    {
        var sequenced = IsOutput && version >= GuestProtocol.AcknowledgedOutputVersion;
        var prefix = sequenced ? GuestProtocol.SequenceLength : 0;
        var bytes = new byte[GuestProtocol.HeaderLength + prefix + Payload.Length];
        GuestProtocol.WriteHeader(bytes, Kind, Channel, prefix + Payload.Length);
        if (sequenced)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(GuestProtocol.HeaderLength), Sequence);
        }

        Payload.CopyTo(bytes, GuestProtocol.HeaderLength + prefix);
        return bytes;
    }
}
