using System.Buffers;
using System.IO.Pipelines;

namespace Portal.Docker.Tests;

/// <summary>
/// A connection's input that arrives in the given chunks, one more each time the reader has examined everything so
/// far: a test decides exactly where the boundaries fall, with no timing involved. Completed after the last chunk.
/// </summary>
public sealed class ScriptedPipeReader(IReadOnlyList<byte[]> chunks) : PipeReader
{
    private byte[] _buffer = [];
    private int _next;
    private bool _examinedAll = true;
    private bool _cancelled;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        TryRead(out var result);
        return ValueTask.FromResult(result);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_cancelled)
        {
            _cancelled = false;
            result = new ReadResult(new ReadOnlySequence<byte>(_buffer), isCanceled: true, isCompleted: false);
            return true;
        }

        if (_examinedAll && _next < chunks.Count)
        {
            _buffer = [.. _buffer, .. chunks[_next++]];
        }

        result = new ReadResult(new ReadOnlySequence<byte>(_buffer), isCanceled: false, isCompleted: _next == chunks.Count);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        _examinedAll = examined.GetInteger() >= _buffer.Length;
        _buffer = _buffer[consumed.GetInteger()..];
    }

    public override void CancelPendingRead() => _cancelled = true;

    public override void Complete(Exception? exception = null)
    {
    }
}
