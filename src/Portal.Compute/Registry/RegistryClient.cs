using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Portal.Compute.Registry;

/// <summary>A user name and a password or token for a registry.</summary>
public sealed record RegistryCredential(string Username, string Secret)
{
    /// <summary>Never the secret.</summary>
    public override string ToString() => $"{Username} (secret hidden)";
}

/// <summary>
/// A client of the OCI distribution API (what docker, containerd and skopeo speak): it pings /v2/, answers a registry's
/// challenge (a Bearer token from the realm for the scope asked, cached per scope until it expires; or Basic), fetches
/// manifests and blobs and verifies each against its digest as it streams (a registry's Docker-Content-Digest header is
/// never trusted over the computed one). A blob download resumes with a Range request after a cut connection.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private const long MaxManifestBytes = 4 << 20;
    private const long MaxTokenBytes = 1 << 20;
    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Uri> _bases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AuthChallenge> _challenges = new(StringComparer.Ordinal);
    // Tokens are kept per credential too: a token one caller's credential earned is never sent for another caller.
    private readonly ConcurrentDictionary<(string Registry, string Scope, string Credential), (string Token, DateTimeOffset Expires)> _tokens = new();

    /// <param name="handler">The HTTP stack (a seam for tests); redirects are followed by it, without the Authorization header.</param>
    public RegistryClient(HttpMessageHandler handler, RegistryOptions options, TimeProvider time)
    {
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("portal-agent/1.0");
        _options = options;
        _time = time;
    }

    /// <summary>The HTTP stack the agent uses: TLS verified, redirects followed (at most 10), connections reused.</summary>
    public static SocketsHttpHandler DefaultHandler() => new()
    {
        AllowAutoRedirect = true,
        MaxAutomaticRedirections = 10,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    /// <summary>
    /// Checks <paramref name="credential"/> against <paramref name="registry"/> as `docker login` does: the registry's
    /// challenge is answered with it (a token is fetched for no scope, or /v2/ is asked with Basic). Throws
    /// <see cref="ComputeErrorCode.RegistryAuthenticationFailed"/> when the registry refuses it.
    /// </summary>
    public async Task LoginAsync(string registry, RegistryCredential credential, CancellationToken ct)
    {
        using var ping = await SendOnceAsync(registry, HttpMethod.Get, "/v2/", null, null, ct).ConfigureAwait(false);
        if (ping.StatusCode != HttpStatusCode.Unauthorized)
        {
            ping.EnsureSuccessStatusCodeOr(registry, "/v2/");
            return; // a registry that asks for nothing accepts anyone
        }

        var challenge = ChallengeOf(ping, registry);
        var authorization = await AuthorizeAsync(registry, challenge, null, credential, ct).ConfigureAwait(false);
        using var again = await SendOnceAsync(registry, HttpMethod.Get, "/v2/", authorization, null, ct).ConfigureAwait(false);
        if (again.StatusCode == HttpStatusCode.Unauthorized)
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, $"{registry} refused the user name or password of '{credential.Username}'.");
        }

        again.EnsureSuccessStatusCodeOr(registry, "/v2/");
    }

    /// <summary>Fetches a manifest by tag or digest and verifies it (against the digest when asked by one).</summary>
    /// <param name="credential">The caller's credential for the registry, or null (anonymous).</param>
    public async Task<ManifestDocument> GetManifestAsync(RegistryReference image, string reference, RegistryCredential? credential, CancellationToken ct)
    {
        var path = $"/v2/{image.Repository}/manifests/{reference}";
        using var response = await SendAsync(image, credential, HttpMethod.Get, path, request =>
        {
            foreach (var type in ManifestDocument.AcceptedTypes)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            }
        }, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ComputeException(ComputeErrorCode.ImageNotFound,
                $"{image.Registry} has no manifest '{reference}' for {image.Repository} (the image or tag does not exist, or it is private and needs `docker login {image.Registry}`).");
        }

        response.EnsureSuccessStatusCodeOr(image.Registry, path);
        var bytes = await ReadBoundedAsync(response, MaxManifestBytes, $"the manifest of {image}", ct).ConfigureAwait(false);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (ManifestDocument.IsDigest(reference) && digest != reference)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected,
                $"The manifest {image.Registry} sent for {image.Repository}@{reference} has the digest {digest}: it was changed or damaged on the way, so it is not used.");
        }

        return ManifestDocument.Parse(bytes, response.Content.Headers.ContentType?.MediaType, digest, image.ToString());
    }

    /// <summary>
    /// Downloads a blob into <paramref name="path"/>, verifying its size and digest as it streams. A file already there
    /// (a download cut earlier) is continued with a Range request after its bytes are hashed; a connection cut in the
    /// middle is continued the same way, up to <see cref="RegistryOptions.DownloadAttempts"/> times. A blob that does
    /// not match is deleted and refused.
    /// </summary>
    /// <param name="progress">Bytes of the blob on disk so far.</param>
    public async Task DownloadBlobAsync(RegistryReference image, Descriptor blob, RegistryCredential? credential, string path, IProgress<long>? progress, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long done = 0;
        if (file.Length > blob.Size)
        {
            file.SetLength(0);
        }

        int n;
        while ((n = await file.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            done += n;
        }

        progress?.Report(done);
        var pathOnRegistry = $"/v2/{image.Repository}/blobs/{blob.Digest}";
        for (var attempt = 1; done < blob.Size; attempt++)
        {
            try
            {
                var from = done;
                using var response = await SendAsync(image, credential, HttpMethod.Get, pathOnRegistry, request =>
                {
                    if (from > 0)
                    {
                        request.Headers.Range = new RangeHeaderValue(from, null);
                    }
                }, ct).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    throw new ComputeException(ComputeErrorCode.ImageRejected, $"{image.Registry} has no blob {blob.Digest} that the manifest of {image} names.");
                }

                response.EnsureSuccessStatusCodeOr(image.Registry, pathOnRegistry);
                if (from > 0 && (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != from))
                {
                    // The registry sent the whole blob instead of the rest: start over.
                    hash.GetHashAndReset();
                    file.SetLength(0);
                    done = 0;
                }

                file.Position = done;
                await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    if (done + n > blob.Size)
                    {
                        throw new ComputeException(ComputeErrorCode.ImageRejected,
                            $"{image.Registry} sent more than the {blob.Size} bytes the manifest of {image} gives for blob {blob.Digest}.");
                    }

                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    done += n;
                    progress?.Report(done);
                }

                if (done < blob.Size)
                {
                    throw new IOException($"The connection ended after {done} of {blob.Size} bytes.");
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested && attempt < _options.DownloadAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), _time, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
            {
                throw new ComputeException(ComputeErrorCode.Unavailable,
                    $"Blob {blob.Digest} of {image} could not be downloaded from {image.Registry} after {attempt} attempts ({e.Message}); the {done} bytes so far are kept and the next pull continues from there.", e);
            }
        }

        await file.FlushAsync(ct).ConfigureAwait(false);
        var digest = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
        if (digest != blob.Digest)
        {
            file.SetLength(0);
            throw new ComputeException(ComputeErrorCode.ImageRejected,
                $"Blob {blob.Digest} of {image} from {image.Registry} does not match its digest (its bytes hash to {digest}): it was changed or damaged, so it is not used.");
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Sends with the cached authorization for the repository's pull scope; a 401 is answered once with the registry's challenge.</summary>
    private async Task<HttpResponseMessage> SendAsync(
        RegistryReference image, RegistryCredential? credential, HttpMethod method, string path, Action<HttpRequestMessage>? prepare, CancellationToken ct)
    {
        var scope = $"repository:{image.Repository}:pull";
        var registry = image.Registry;
        var authorization = _challenges.TryGetValue(registry, out var known) ? CachedAuthorization(registry, known, scope, credential) : null;
        var response = await SendOnceAsync(registry, method, path, authorization, prepare, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var challenge = ChallengeOf(response, registry);
        response.Dispose();
        _challenges[registry] = challenge;
        authorization = await AuthorizeAsync(registry, challenge, challenge.Scope ?? scope, credential, ct).ConfigureAwait(false);
        response = await SendOnceAsync(registry, method, path, authorization, prepare, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            response.Dispose();
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, credential is null
                ? $"{registry} wants a login to pull {image.Repository}: run `docker login {registry}` (or Set-RegistryCredential) on this host first."
                : $"{registry} refused '{credential.Username}' for {image.Repository}: the password is wrong or the user may not pull it.");
        }

        return response;
    }

    private AuthenticationHeaderValue? CachedAuthorization(string registry, AuthChallenge challenge, string scope, RegistryCredential? credential)
    {
        if (challenge.IsBasic)
        {
            return credential is null ? null : Basic(credential);
        }

        return _tokens.TryGetValue((registry, scope, Fingerprint(credential)), out var token) && token.Expires > _time.GetUtcNow()
            ? new AuthenticationHeaderValue("Bearer", token.Token)
            : null;
    }

    /// <summary>Answers a challenge: Basic with the credential, or a Bearer token from the realm (with the credential when there is one).</summary>
    private async Task<AuthenticationHeaderValue?> AuthorizeAsync(string registry, AuthChallenge challenge, string? scope, RegistryCredential? credential, CancellationToken ct)
    {
        if (challenge.IsBasic)
        {
            return credential is null ? null : Basic(credential);
        }

        if (!challenge.IsBearer || challenge.Realm is null)
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed,
                $"{registry} asks for '{challenge.Scheme}' authentication, which this agent does not speak (it speaks Bearer tokens and Basic).");
        }

        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && !(realm.Scheme == Uri.UriSchemeHttp && IsInsecure(realm.Authority))))
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed,
                $"{registry} sends its clients for a token to '{challenge.Realm}', which is not an https address (or a plain-http registry allowed in Compute:Registries:Insecure); no credential is sent there.");
        }

        var query = new StringBuilder();
        if (challenge.Service is { } service)
        {
            query.Append("service=").Append(Uri.EscapeDataString(service));
        }

        if (scope is not null)
        {
            query.Append(query.Length > 0 ? "&" : string.Empty).Append("scope=").Append(Uri.EscapeDataString(scope));
        }

        var url = new UriBuilder(realm) { Query = string.Join('&', new[] { realm.Query.TrimStart('?'), query.ToString() }.Where(q => q.Length > 0)) }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (credential is not null)
        {
            request.Headers.Authorization = Basic(credential);
        }

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, credential is null
                ? $"{registry}'s token server refused an anonymous token for {scope ?? "a login"}: run `docker login {registry}` on this host first."
                : $"{registry}'s token server refused '{credential.Username}': the user name or password is wrong.");
        }

        response.EnsureSuccessStatusCodeOr(realm.Authority, realm.AbsolutePath);
        var body = await ReadBoundedAsync(response, MaxTokenBytes, $"{registry}'s token", ct).ConfigureAwait(false);
        string? token;
        int expiresIn;
        try
        {
            var json = JsonDocument.Parse(body).RootElement;
            token = (json.TryGetProperty("token", out var t) ? t.GetString() : null) ?? (json.TryGetProperty("access_token", out var a) ? a.GetString() : null);
            expiresIn = json.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, $"{registry}'s token server answered something that is not a token ({e.Message}).");
        }

        if (string.IsNullOrEmpty(token))
        {
            throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, $"{registry}'s token server answered without a token.");
        }

        // Cached a little shorter than given, so that a request never leaves with a token about to expire.
        _tokens[(registry, scope ?? string.Empty, Fingerprint(credential))] = (token, _time.GetUtcNow().AddSeconds(Math.Max(1, expiresIn - 10)));
        return new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>One request to the registry; the first one decides between https and, for an insecure registry that does not speak TLS, plain http.</summary>
    private async Task<HttpResponseMessage> SendOnceAsync(
        string registry, HttpMethod method, string path, AuthenticationHeaderValue? authorization, Action<HttpRequestMessage>? prepare, CancellationToken ct)
    {
        var endpoint = registry == RegistryReference.DockerHub ? "registry-1.docker.io" : registry;
        if (!_bases.TryGetValue(registry, out var baseUri))
        {
            baseUri = new Uri($"https://{endpoint}");
            if (IsInsecure(registry))
            {
                try
                {
                    using var probe = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, "/v2/"));
                    using var answer = await _http.SendAsync(probe, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                }
                catch (HttpRequestException)
                {
                    baseUri = new Uri($"http://{endpoint}");
                }
            }

            _bases[registry] = baseUri;
        }

        using var request = new HttpRequestMessage(method, new Uri(baseUri, path));
        request.Headers.Authorization = authorization;
        prepare?.Invoke(request);
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (!ct.IsCancellationRequested && (path.Contains("/manifests/", StringComparison.Ordinal) || path == "/v2/"))
        {
            throw new ComputeException(ComputeErrorCode.Unavailable, $"{registry} cannot be reached ({e.Message}). Check the name, the host's network and, for a registry without TLS, Compute:Registries:Insecure.", e);
        }
    }

    /// <summary>Plain http is allowed for loopback registries (tests, a local mirror) and the ones the operator lists as insecure.</summary>
    private bool IsInsecure(string registry)
    {
        if (_options.Insecure.Contains(registry, StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        var host = registry.StartsWith('[') ? registry[..(registry.IndexOf(']') + 1)] : registry.Split(':')[0];
        return _options.AllowLoopbackHttp && (host == "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address)));
    }

    private static AuthChallenge ChallengeOf(HttpResponseMessage response, string registry) =>
        response.Headers.WwwAuthenticate.Select(h => AuthChallenge.Parse(h.ToString())).FirstOrDefault(c => c is { IsBearer: true } or { IsBasic: true })
        ?? throw new ComputeException(ComputeErrorCode.RegistryAuthenticationFailed, $"{registry} answered 401 without a challenge this agent understands (Bearer or Basic).");

    /// <summary>Who a cached token belongs to: a hash of the credential (never the secret itself), or anonymous.</summary>
    private static string Fingerprint(RegistryCredential? credential) => credential is null
        ? "anonymous"
        : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{credential.Username}\n{credential.Secret}")));

    private static AuthenticationHeaderValue Basic(RegistryCredential credential) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Secret}")));

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, long max, string what, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength > max)
        {
            throw new ComputeException(ComputeErrorCode.ImageRejected, $"{what} is {response.Content.Headers.ContentLength} bytes, more than the {max} this agent reads.");
        }

        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > max)
            {
                throw new ComputeException(ComputeErrorCode.ImageRejected, $"{what} is more than the {max} bytes this agent reads.");
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }
}

/// <summary>Registry settings (Agent:Registries).</summary>
public sealed record RegistryOptions
{
    /// <summary>Registries reached over plain http when they do not speak TLS ("myregistry:5000").</summary>
    public IReadOnlyList<string> Insecure { get; init; } = [];

    /// <summary>Loopback registries (127.0.0.1, ::1, localhost) may use plain http: a local mirror or a test registry.</summary>
    public bool AllowLoopbackHttp { get; init; } = true;

    /// <summary>Layers downloaded at once per pull.</summary>
    public int ParallelDownloads { get; init; } = 3;

    /// <summary>Attempts per blob; each continues where the last one was cut.</summary>
    public int DownloadAttempts { get; init; } = 5;
}

internal static class RegistryResponses
{
    /// <summary>Throws a ComputeException saying which registry answered what to which path, with the registry's own error message.</summary>
    public static void EnsureSuccessStatusCodeOr(this HttpResponseMessage response, string registry, string path)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var code = response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout
            ? ComputeErrorCode.Unavailable
            : response.StatusCode == HttpStatusCode.Forbidden ? ComputeErrorCode.RegistryAuthenticationFailed : ComputeErrorCode.RuntimeFailure;
        throw new ComputeException(code, $"{registry} answered {(int)response.StatusCode} {response.ReasonPhrase} to {path}.");
    }
}
