using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Docker;

/// <summary>
/// Docker hijacks connections after requests that carry a body (POST /exec/{id}/start sends {"Detach":false,...} with
/// "Connection: Upgrade"), but Kestrel only upgrades requests without one. This connection middleware sits under
/// HTTP: it lifts such a body off the wire, keeps it in the connection's items and passes the request on with an
/// empty body, so Kestrel upgrades it and the endpoint still reads the body (<see cref="ReadBodyAsync"/>).
/// Every other byte passes through unchanged.
/// </summary>
internal static class UpgradeBodyRewriter
{
    private const string ItemKey = "portal.docker.upgrade-body";
    private const int MaxHeadBytes = 64 * 1024;
    private const int MaxLiftedBodyBytes = 1 << 20;

    public static ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var transport = connection.Transport;
        var pipe = new Pipe();
        var state = new ConnectionState();
        var pump = PumpAsync(transport.Input, pipe.Writer, connection.Items, state);
        using var hijackable = new HijackableConnection(connection, new Duplex(pipe.Reader, transport.Output), state);
        try
        {
            await next(hijackable).ConfigureAwait(false);
        }
        finally
        {
            transport.Input.CancelPendingRead();
            await pump.ConfigureAwait(false);
            await pipe.Reader.CompleteAsync().ConfigureAwait(false);
        }
    };

    /// <summary>The request body: the lifted one for an upgrade request, else the request's own.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpContext http)
    {
        var items = http.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.Remove(ItemKey, out var lifted) && lifted is byte[] body)
        {
            return body;
        }

        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static async Task PumpAsync(PipeReader input, PipeWriter output, IDictionary<object, object?> items, ConnectionState state)
    {
        var mode = Mode.Head;
        long bodyLeft = 0;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                var consumed = buffer.Start;
                while (true)
                {
                    var rest = buffer.Slice(consumed);
                    if (rest.IsEmpty)
                    {
                        break;
                    }

                    if (mode == Mode.Passthrough)
                    {
                        Write(output, rest);
                        consumed = rest.End;
                        break;
                    }

                    if (mode == Mode.Body)
                    {
                        var n = Math.Min(bodyLeft, rest.Length);
                        Write(output, rest.Slice(0, n));
                        consumed = rest.GetPosition(n);
                        bodyLeft -= n;
                        mode = bodyLeft == 0 ? Mode.Head : Mode.Body;
                        continue;
                    }

                    var headLength = HeadLength(rest);
                    if (headLength is not { } length)
                    {
                        if (rest.Length > MaxHeadBytes || result.IsCompleted)
                        {
                            mode = Mode.Passthrough; // not ours to judge: Kestrel answers a malformed request
                            continue;
                        }

                        break; // need the rest of the head
                    }

                    if (Head.Parse(Encoding.Latin1.GetString(rest.Slice(0, length))) is not { } request)
                    {
                        mode = Mode.Passthrough; // only line breaks, no request line: Kestrel answers it
                        continue;
                    }

                    var afterHead = rest.GetPosition(length);
                    state.UpgradeRequested |= request.Upgrade;
                    if (request.Upgrade && request.ContentLength is > 0 and <= MaxLiftedBodyBytes && !request.Chunked)
                    {
                        var available = rest.Slice(afterHead);
                        if (available.Length < request.ContentLength)
                        {
                            if (result.IsCompleted)
                            {
                                mode = Mode.Passthrough;
                                continue;
                            }

                            break; // need the whole body
                        }

                        items[ItemKey] = available.Slice(0, request.ContentLength.Value).ToArray();
                        output.Write(Encoding.Latin1.GetBytes(request.WithoutBody()));
                        consumed = available.GetPosition(request.ContentLength.Value);
                        mode = Mode.Passthrough; // after an upgrade the connection carries raw streams
                        continue;
                    }

                    Write(output, rest.Slice(0, afterHead));
                    consumed = afterHead;
                    (mode, bodyLeft) = request switch
                    {
                        { Upgrade: true } or { Chunked: true } => (Mode.Passthrough, 0L),
                        { ContentLength: > 0 } => (Mode.Body, request.ContentLength.Value),
                        _ => (Mode.Head, 0L),
                    };
                }

                input.AdvanceTo(consumed, buffer.End);
                var flushed = await output.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted || result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ConnectionResetException)
        {
            await output.CompleteAsync(e).ConfigureAwait(false);
            return;
        }

        await output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The length of the request head including the empty line that ends it, or null when it is not all here. Lines
    /// may end in CRLF or a bare LF (Docker.DotNet sends "Header: value\n"), as Kestrel accepts.
    /// </summary>
    private static long? HeadLength(ReadOnlySequence<byte> data)
    {
        var bytes = data.Slice(0, Math.Min(data.Length, MaxHeadBytes + 4)).ToArray();
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)'\n')
            {
                continue;
            }

            if (i + 1 < bytes.Length && bytes[i + 1] == (byte)'\n')
            {
                return i + 2;
            }

            if (i + 2 < bytes.Length && bytes[i + 1] == (byte)'\r' && bytes[i + 2] == (byte)'\n')
            {
                return i + 3;
            }
        }

        return null;
    }

    private static void Write(PipeWriter output, ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            output.Write(segment.Span);
        }
    }

    private sealed class ConnectionState
    {
        public volatile bool UpgradeRequested;
    }

    /// <summary>
    /// The connection as HTTP sees it. Kestrel ends a request when the client half-closes (its ConnectionClosed fires
    /// on the read side's FIN), but docker clients half-close hijacked connections as soon as their stdin ends and
    /// then read the output to its end. So once a request asked for an upgrade, a FIN no longer aborts it; writes
    /// still fail when the client has really gone.
    /// </summary>
    private sealed class HijackableConnection : ConnectionContext, IDisposable
    {
        private readonly ConnectionContext _inner;
        private readonly CancellationTokenSource _closed = new();
        private readonly CancellationTokenRegistration _registration;

        public HijackableConnection(ConnectionContext inner, IDuplexPipe transport, ConnectionState state)
        {
            _inner = inner;
            Transport = transport;
            _registration = inner.ConnectionClosed.Register(() =>
            {
                if (!state.UpgradeRequested)
                {
                    _closed.Cancel();
                }
            });
        }

        public override string ConnectionId
        {
            get => _inner.ConnectionId;
            set => _inner.ConnectionId = value;
        }

        public override IFeatureCollection Features => _inner.Features;

        public override IDictionary<object, object?> Items
        {
            get => _inner.Items;
            set => _inner.Items = value;
        }

        public override IDuplexPipe Transport { get; set; }

        public override CancellationToken ConnectionClosed
        {
            get => _closed.Token;
            set
            {
            }
        }

        public override System.Net.EndPoint? LocalEndPoint
        {
            get => _inner.LocalEndPoint;
            set => _inner.LocalEndPoint = value;
        }

        public override System.Net.EndPoint? RemoteEndPoint
        {
            get => _inner.RemoteEndPoint;
            set => _inner.RemoteEndPoint = value;
        }

        public override void Abort(ConnectionAbortedException abortReason) => _inner.Abort(abortReason);

        public override void Abort() => _inner.Abort();

        public void Dispose()
        {
            _registration.Dispose();
            _closed.Dispose();
        }
    }

    private enum Mode
    {
        Head,
        Body,
        Passthrough,
    }

    private sealed record Head(string RequestLine, IReadOnlyList<string> Headers, bool Upgrade, long? ContentLength, bool Chunked)
    {
        /// <summary>The head's request line and headers; null when it has no request line (a client may send only line breaks).</summary>
        public static Head? Parse(string text)
        {
            var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();
            if (lines.Length == 0)
            {
                return null;
            }

            var upgrade = false;
            var chunked = false;
            long? length = null;
            foreach (var line in lines.Skip(1))
            {
                var colon = line.IndexOf(':');
                if (colon <= 0)
                {
                    continue;
                }

                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                {
                    upgrade |= value.Split(',').Any(t => t.Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase));
                }
                else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    length = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    chunked = true;
                }
            }

            return new Head(lines[0], lines.Skip(1).ToList(), upgrade, length, chunked);
        }

        public string WithoutBody()
        {
            var text = new StringBuilder(RequestLine).Append("\r\n");
            foreach (var header in Headers.Where(h => !h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase) && h.Length > 0))
            {
                text.Append(header).Append("\r\n");
            }

            return text.Append("Content-Length: 0\r\n\r\n").ToString();
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
