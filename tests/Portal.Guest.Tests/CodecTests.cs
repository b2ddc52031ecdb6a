using System.Text;
using Portal.Contracts.Guest;
using Portal.Guest.Wire;

namespace Portal.Guest.Tests;

public sealed class CodecTests
{
    [Fact]
    public void Decoder_reassembles_frames_from_any_chunking()
    {
        var a = new OutboundFrame(FrameKind.Request, 7, Encoding.UTF8.GetBytes("{\"op\":\"ps\"}")).Encode();
        var b = new OutboundFrame(FrameKind.Stdin, 2, []).Encode();
        var c = new OutboundFrame(FrameKind.Stdin, 3, new byte[70_000]).Encode();
        var stream = a.Concat(b).Concat(c).ToArray();
        foreach (var chunk in new[] { 1, 2, 9, 10, 4096, stream.Length })
        {
            var decoder = new FrameDecoder();
            var frames = new List<InboundFrame>();
            for (var i = 0; i < stream.Length; i += chunk)
            {
                frames.AddRange(decoder.Feed(stream.AsSpan(i, Math.Min(chunk, stream.Length - i))));
            }

            Assert.Equal(3, frames.Count);
            Assert.Equal((FrameKind.Request, 7u, "{\"op\":\"ps\"}"), (frames[0].Kind, frames[0].Channel, Encoding.UTF8.GetString(frames[0].Payload)));
            Assert.Equal((FrameKind.Stdin, 2u, 0), (frames[1].Kind, frames[1].Channel, frames[1].Payload.Length));
            Assert.Equal(70_000, frames[2].Payload.Length);
            Assert.False(decoder.HasPartialFrame);
        }
    }

    [Fact]
    public void Decoder_rejects_a_malformed_header_and_recovers_after_reset()
    {
        var decoder = new FrameDecoder();
        Assert.Throws<InvalidDataException>(() => decoder.Feed(new byte[] { 0, 0, 0, 6, 0x77, 0, 0, 0, 1, 0 }));
        Assert.Throws<InvalidDataException>(() => decoder.Feed(new byte[] { 0x7f, 0, 0, 0, 1, 0, 0, 0, 1 }));
        var frames = decoder.Feed(new OutboundFrame(FrameKind.Request, 1, [1, 2, 3]).Encode());
        Assert.Single(frames);
    }

    [Fact]
    public void Decoder_reset_drops_a_partial_frame()
    {
        var decoder = new FrameDecoder();
        var frame = new OutboundFrame(FrameKind.Request, 1, [1, 2, 3]).Encode();
        Assert.Empty(decoder.Feed(frame.AsSpan(0, 5)));
        Assert.True(decoder.HasPartialFrame);
        decoder.Reset();
        Assert.Single(decoder.Feed(frame));
    }
}
