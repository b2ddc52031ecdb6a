using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Portal.Compute.Registry;

namespace Portal.Compute.Tests.Registry;

/// <summary>The distribution client against scripted registry answers (the real registry is in <see cref="ImagePullTests"/>).</summary>
public sealed class RegistryClientTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-registry-client-").FullName;
    private static readonly RegistryReference Image = RegistryReference.Parse("registry.example/team/app:1");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_bearer_challenge_gets_a_token_with_the_credential_once_per_scope()
    {
        var handler = new ScriptedHandler(request =>
        {
            if (request.RequestUri!.AbsolutePath == "/token")
            {
                Assert.Equal("service=registry.example&scope=repository%3Ateam%2Fapp%3Apull", request.RequestUri.Query.TrimStart('?'));
                if (request.Headers.Authorization is null)
                {
                    return Json(HttpStatusCode.OK, "{\"token\":\"anonymous\"}");
                }

                Assert.Equal("ann:secret", Encoding.UTF8.GetString(Convert.FromBase64String(request.Headers.Authorization.Parameter!)));
                return Json(HttpStatusCode.OK, "{\"token\":\"t-1\",\"expires_in\":300}");
            }

            if (request.Headers.Authorization is not { Scheme: "Bearer", Parameter: "t-1" })
            {
                var refused = new HttpResponseMessage(HttpStatusCode.Unauthorized);
                refused.Headers.WwwAuthenticate.ParseAdd("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:team/app:pull\"");
                return refused;
            }

            return Json(HttpStatusCode.NotFound, "{}");
        });
        using var client = Client(handler);
        var ann = new RegistryCredential("ann", "secret");

        await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, "1", ann, CancellationToken.None));
        await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, "2", ann, CancellationToken.None));

        Assert.Equal(1, handler.Requests.Count(r => r.AbsolutePath == "/token"));
        Assert.Equal(3, handler.Requests.Count(r => r.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal)));

        // Another caller (anonymous here) never gets ann's token: it is challenged and asks for its own.
        await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, "1", null, CancellationToken.None));
        Assert.Equal(2, handler.Requests.Count(r => r.AbsolutePath == "/token"));
    }

    [Fact]
    public async Task Wrong_credentials_are_a_clear_authentication_failure_naming_the_user()
    {
        var handler = new ScriptedHandler(request => request.RequestUri!.AbsolutePath == "/token"
            ? Json(HttpStatusCode.Unauthorized, "{}")
            : Challenge("Bearer realm=\"https://auth.example/token\",service=\"registry.example\""));
        using var client = Client(handler);

        var error = await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, "1", new RegistryCredential("ann", "hunter2-secret"), CancellationToken.None));

        Assert.Equal(ComputeErrorCode.RegistryAuthenticationFailed, error.Code);
        Assert.Contains("'ann'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_realm_over_plain_http_elsewhere_gets_no_credential()
    {
        var handler = new ScriptedHandler(_ => Challenge("Bearer realm=\"http://attacker.example/token\",service=\"x\""));
        using var client = Client(handler);

        var error = await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, "1", new RegistryCredential("ann", "secret"), CancellationToken.None));

        Assert.Equal(ComputeErrorCode.RegistryAuthenticationFailed, error.Code);
        Assert.Contains("not an https address", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Requests, r => r.Host == "attacker.example");
    }

    [Fact]
    public async Task A_manifest_asked_by_digest_must_hash_to_it_whatever_the_header_says()
    {
        var body = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}");
        var claimed = "sha256:" + new string('e', 64);
        var handler = new ScriptedHandler(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
            response.Headers.Add("Docker-Content-Digest", claimed);
            return response;
        });
        using var client = Client(handler);

        var error = await Assert.ThrowsAsync<ComputeException>(() => client.GetManifestAsync(Image, claimed, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(Sha(body), error.Message, StringComparison.Ordinal);
        var byTag = await client.GetManifestAsync(Image, "1", null, CancellationToken.None);
        Assert.Equal(Sha(body), byTag.Digest);
    }

    [Fact]
    public async Task A_cut_download_continues_with_a_range_request_and_verifies_the_whole_blob()
    {
        var blob = RandomNumberGenerator.GetBytes(300_000);
        var ranges = new List<string?>();
        var handler = new ScriptedHandler(request =>
        {
            ranges.Add(request.Headers.Range?.ToString());
            var from = (int)(request.Headers.Range?.Ranges.Single().From ?? 0);
            if (from == 0)
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new CutStream(blob, 100_000)) };
            }

            var rest = new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent(blob[from..]) };
            rest.Content.Headers.ContentRange = new ContentRangeHeaderValue(from, blob.Length - 1, blob.Length);
            return rest;
        });
        using var client = Client(handler);
        var path = Path.Combine(_directory, "blob");

        await client.DownloadBlobAsync(Image, new Descriptor("application/octet-stream", Sha(blob), blob.Length), null, path, null, CancellationToken.None);

        Assert.Equal(blob, await File.ReadAllBytesAsync(path));
        Assert.Equal([null, "bytes=100000-"], ranges);
    }

    [Fact]
    public async Task A_partial_file_from_an_earlier_pull_is_continued_and_a_registry_ignoring_ranges_starts_over()
    {
        var blob = RandomNumberGenerator.GetBytes(50_000);
        var path = Path.Combine(_directory, "blob");
        await File.WriteAllBytesAsync(path, blob[..20_000]);
        var handler = new ScriptedHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(blob) });
        using var client = Client(handler);

        await client.DownloadBlobAsync(Image, new Descriptor("application/octet-stream", Sha(blob), blob.Length), null, path, null, CancellationToken.None);

        Assert.Equal(blob, await File.ReadAllBytesAsync(path));
        Assert.Equal("bytes=20000-", handler.Ranges.Single());
    }

    [Theory]
    [InlineData("damaged")]
    [InlineData("longer")]
    public async Task A_blob_that_does_not_match_its_descriptor_is_refused_and_not_kept(string how)
    {
        var blob = RandomNumberGenerator.GetBytes(10_000);
        var sent = how == "damaged" ? blob.Select((b, i) => i == 5000 ? (byte)(b ^ 1) : b).ToArray() : [.. blob, 1, 2, 3];
        var handler = new ScriptedHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(sent) });
        using var client = Client(handler);
        var path = Path.Combine(_directory, "blob");

        var error = await Assert.ThrowsAsync<ComputeException>(() =>
            client.DownloadBlobAsync(Image, new Descriptor("application/octet-stream", Sha(blob), blob.Length), null, path, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains(Sha(blob), error.Message, StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(path).Length); // nothing of it is continued by the next pull
    }

    private static RegistryClient Client(ScriptedHandler handler) => new(handler, new RegistryOptions { DownloadAttempts = 3 }, TimeProvider.System);

    private static string Sha(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Challenge(string header)
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ParseAdd(header);
        return response;
    }

    /// <summary>A body whose connection is cut after <paramref name="cutAfter"/> bytes.</summary>
    private sealed class CutStream(byte[] data, int cutAfter) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) =>
            Position >= cutAfter ? throw new IOException("connection reset by peer") : base.Read(buffer, offset, (int)Math.Min(count, cutAfter - Position));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= cutAfter ? throw new IOException("connection reset by peer") : base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, cutAfter - Position)], cancellationToken);
    }
}
