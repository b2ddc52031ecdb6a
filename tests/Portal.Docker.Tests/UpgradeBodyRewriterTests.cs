using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Portal.Docker.Tests;

/// <summary>
/// The connection middleware under HTTP that lifts the JSON body off docker's upgrade requests. Whatever the bytes and
/// wherever the reads split them, it forwards everything else unchanged, lifts only a whole, bounded body of an
/// upgrade request, never touches bytes after an upgrade or inside another request's body, and always finishes.
/// </summary>
public sealed class UpgradeBodyRewriterTests
{
    private const string ExecStart =
        "POST /v1.50/exec/abc/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n";

    private const string ExecBody = "{\"Detach\":false,\"Tty\":false}";

    private const string ExecStartWithoutBody =
        "POST /v1.50/exec/abc/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n";

    /// <summary>After the upgrade the connection carries raw stdin, which may look like anything, even like HTTP.</summary>
    private const string RawStdin = "POST /x HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\n{}echo hi\n";

    [Fact]
    public async Task An_upgrade_request_s_body_is_lifted_and_the_raw_stream_after_it_passes_unchanged_at_every_split()
    {
        foreach (var chunks in Splits(ExecStart + ExecBody + RawStdin))
        {
            var (forwarded, lifted) = await RunAsync(chunks);

            Assert.Equal(ExecStartWithoutBody + RawStdin, forwarded);
            Assert.Equal(ExecBody, lifted);
        }
    }

    [Fact]
    public async Task Bare_line_feeds_and_a_token_list_in_Connection_are_understood_as_Docker_DotNet_sends_them()
    {
        const string head = "POST /exec/x/start HTTP/1.1\nHost: docker\nConnection: keep-alive, Upgrade\nUpgrade: tcp\nContent-Length: 2\n\n";
        foreach (var chunks in Splits(head + "{}"))
        {
            var (forwarded, lifted) = await RunAsync(chunks);

            Assert.Equal("POST /exec/x/start HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive, Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", forwarded);
            Assert.Equal("{}", lifted);
        }
    }

    [Fact]
    public async Task Pipelined_requests_pass_unchanged_and_a_body_that_looks_like_an_upgrade_head_is_only_a_body()
    {
        var body = "Connection: Upgrade\r\n\r\n" + ExecStart;
        var input = $"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: {Encoding.Latin1.GetByteCount(body)}\r\n\r\n{body}"
            + "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
            + ExecStart + ExecBody;
        foreach (var chunks in Splits(input))
        {
            var (forwarded, lifted) = await RunAsync(chunks);

            Assert.Equal(input[..^(ExecStart.Length + ExecBody.Length)] + ExecStartWithoutBody, forwarded);
            Assert.Equal(ExecBody, lifted);
        }
    }

    public static TheoryData<string, string> Untouched() => new()
    {
        { "an upgrade without a body", ExecStartWithoutBody + RawStdin },
        { "a body over the 1 MiB bound", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: 1048577\r\n\r\n{\"Detach\":false}" },
        { "a non-numeric length", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: abc\r\n\r\n{}" },
        { "a negative length", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: -2\r\n\r\n{}" },
        { "a signed length", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: +2\r\n\r\n{}" },
        { "a chunked upgrade", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" },
        { "a body cut short by the end of the connection", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: 100\r\n\r\n{\"Detach\":" },
        { "a head cut short", "POST /exec/a/start HTTP/1.1\r\nConnection: Upgr" },
        { "a head that is only line breaks", "\r\n\r\n\n\n\r\n" },
        { "headers without colons", "POST / HTTP/1.1\r\nConnection Upgrade\r\n: nothing\r\n\r\n{}" },
        { "nothing at all", "" },
    };

    [Theory]
    [MemberData(nameof(Untouched))]
    public async Task What_is_not_a_whole_bounded_upgrade_body_passes_unchanged_at_every_split(string what, string input)
    {
        foreach (var chunks in Splits(input))
        {
            var (forwarded, lifted) = await RunAsync(chunks);

            Assert.True(input == forwarded, what);
            Assert.Null(lifted);
        }
    }

    [Fact]
    public async Task A_head_over_64_KiB_is_not_buffered_for_ever_but_passed_on_for_Kestrel_to_refuse()
    {
        var input = "GET / HTTP/1.1\r\nX-Pad: " + new string('a', 70 * 1024) + "\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\n{}";
        var bytes = Encoding.Latin1.GetBytes(input);

        var (forwarded, lifted) = await RunAsync(bytes.Chunk(1000).ToList());

        Assert.Equal(input, forwarded);
        Assert.Null(lifted);
    }

    [Fact]
    public async Task Random_bytes_pass_unchanged_whatever_the_chunks()
    {
        var random = new Random(20241202);
        for (var i = 0; i < 50; i++)
        {
            var bytes = new byte[random.Next(0, 4096)];
            random.NextBytes(bytes);
            if (i % 2 == 0)
            {
                // Some with a real upgrade head in front, whose declared body is the random bytes' prefix.
                bytes = [.. Encoding.Latin1.GetBytes("POST /exec/a/start HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: 999999\r\n\r\n"), .. bytes];
            }

            var chunks = bytes.Chunk(random.Next(1, 512)).ToList();
            var (forwarded, lifted) = await RunAsync(chunks);

            Assert.Equal(Encoding.Latin1.GetString(bytes), forwarded);
            Assert.Null(lifted);
        }
    }

    [Fact]
    public async Task The_endpoint_reads_the_lifted_body_once_then_the_request_s_own()
    {
        var connection = NewConnection([Encoding.Latin1.GetBytes(ExecStart + ExecBody)]);
        await UpgradeBodyRewriter.Middleware(DrainAsync)(connection).WaitAsync(TimeSpan.FromSeconds(10));
        var http = new DefaultHttpContext();
        http.Features.Set<IConnectionItemsFeature>(connection);
        http.Request.Body = new MemoryStream("{\"own\":1}"u8.ToArray());

        Assert.Equal(ExecBody, Encoding.UTF8.GetString(await UpgradeBodyRewriter.ReadBodyAsync(http)));
        Assert.Equal("{\"own\":1}", Encoding.UTF8.GetString(await UpgradeBodyRewriter.ReadBodyAsync(http)));
    }

    /// <summary>Runs the middleware over the chunks; returns what HTTP above it read and the body it lifted (if any).</summary>
    private static async Task<(string Forwarded, string? Lifted)> RunAsync(IReadOnlyList<byte[]> chunks)
    {
        var connection = NewConnection(chunks);
        var forwarded = new MemoryStream();
        await UpgradeBodyRewriter.Middleware(async c =>
        {
            await DrainAsync(c, forwarded);
        })(connection).WaitAsync(TimeSpan.FromSeconds(10));
        var lifted = connection.Items.Values.OfType<byte[]>().SingleOrDefault();
        return (Encoding.Latin1.GetString(forwarded.ToArray()), lifted is null ? null : Encoding.Latin1.GetString(lifted));
    }

    private static Task DrainAsync(ConnectionContext connection) => DrainAsync(connection, Stream.Null);

    private static async Task DrainAsync(ConnectionContext connection, Stream to)
    {
        while (true)
        {
            var result = await connection.Transport.Input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                to.Write(segment.Span);
            }

            connection.Transport.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    private static DefaultConnectionContext NewConnection(IReadOnlyList<byte[]> chunks) =>
        new("test") { Transport = new TestDuplex(new ScriptedPipeReader(chunks), new Pipe().Writer) };

    /// <summary>The whole input at once, split in two at every position, and a byte at a time.</summary>
    private static IEnumerable<IReadOnlyList<byte[]>> Splits(string input)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        yield return [bytes];
        for (var i = 1; i < bytes.Length; i++)
        {
            yield return [bytes[..i], bytes[i..]];
        }

        yield return bytes.Select(b => new[] { b }).ToList();
    }

    private sealed class TestDuplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
