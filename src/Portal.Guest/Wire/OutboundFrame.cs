using Portal.Contracts.Guest;

namespace Portal.Guest.Wire;

/// <summary>One frame waiting to go to the host. ExitedProcess is set on a ProcessExitedEvent (it is re-sent on every Hello).</summary>
internal sealed record OutboundFrame(FrameKind Kind, uint Channel, byte[] Payload, uint? ExitedProcess = null)
{
    public bool IsOutput => Kind is FrameKind.Stdout or FrameKind.Stderr;

    public byte[] Encode()
    {
        var bytes = new byte[GuestProtocol.HeaderLength + Payload.Length];
        GuestProtocol.WriteHeader(bytes, Kind, Channel, Payload.Length);
        Payload.CopyTo(bytes, GuestProtocol.HeaderLength);
        return bytes;
    }
}
