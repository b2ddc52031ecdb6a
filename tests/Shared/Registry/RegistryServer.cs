using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Portal.Tests.Shared;

/// <summary>How a <see cref="RegistryServer"/> wants its clients to authenticate.</summary>
public enum RegistryAuth
{
    None,

    /// <summary>Basic auth against an htpasswd file (bcrypt, made with htpasswd -B).</summary>
    Htpasswd,

    /// <summary>Bearer tokens from a token server inside the test (ES256 JWTs with the signing certificate in x5c).</summary>
    Token,
}

/// <summary>
/// A real registry (Debian's docker-registry: Distribution 2.8) on a loopback port, with its own config and storage in a
/// temporary directory; optionally with htpasswd basic auth or token auth served by <see cref="TokenServer"/>. Test
/// images are pushed to it with skopeo from OCI layouts. Disposing stops it and removes its directory.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    public const string User = "tester";
    public const string Password = "registry-password-1";
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-registry-").FullName;
    private readonly RecentOutput _log = new();
    private Process? _process;
    private TokenServer? _tokens;

    private RegistryServer(RegistryAuth auth)
    {
        Auth = auth;
        Port = FreeTcpPort.Next();
    }

    public RegistryAuth Auth { get; }

    public int Port { get; }

    /// <summary>"127.0.0.1:port": the registry part of image references.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Where the registry keeps blobs (to damage one in a test).</summary>
    public string Storage => Path.Combine(_directory, "data");

    /// <summary>Token requests the token server answered, with the scope asked.</summary>
    public IReadOnlyList<string> TokenRequests => _tokens?.Requests ?? [];

    public string Log => _log.ToString();

    public static async Task<RegistryServer> StartAsync(RegistryAuth auth = RegistryAuth.None)
    {
        var server = new RegistryServer(auth);
        try
        {
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Pushes the OCI layout at <paramref name="layout"/> (its only image) as <paramref name="repositoryAndTag"/> ("team/app:1") with skopeo.</summary>
    public async Task PushAsync(string layout, string repositoryAndTag, bool allImages = false)
    {
        var arguments = new List<string> { "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests" };
        if (allImages)
        {
            arguments.Add("--all");
        }

        if (Auth != RegistryAuth.None)
        {
            arguments.Add($"--dest-creds={User}:{Password}");
        }

        arguments.Add($"oci:{layout}");
        arguments.Add($"docker://{Address}/{repositoryAndTag}");
        await RunAsync("skopeo", arguments);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        if (_tokens is not null)
        {
            await _tokens.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private async Task StartAsync()
    {
        var config = new StringBuilder();
        config.AppendLine("version: 0.1");
        config.AppendLine("log:\n  level: info\n  accesslog:\n    disabled: true");
        config.AppendLine($"storage:\n  filesystem:\n    rootdirectory: {Storage}\n  delete:\n    enabled: true");
        config.AppendLine($"http:\n  addr: {Address}\n  secret: {Convert.ToHexString(RandomNumberGenerator.GetBytes(16))}");
        switch (Auth)
        {
            case RegistryAuth.Htpasswd:
                var htpasswd = Path.Combine(_directory, "htpasswd");
                await RunAsync("htpasswd", ["-Bbc", htpasswd, User, Password]);
                config.AppendLine($"auth:\n  htpasswd:\n    realm: portal-tests\n    path: {htpasswd}");
                break;
            case RegistryAuth.Token:
                _tokens = await TokenServer.StartAsync(_directory);
                config.AppendLine($"auth:\n  token:\n    realm: {_tokens.Realm}\n    service: {TokenServer.Service}\n    issuer: {TokenServer.Issuer}\n    rootcertbundle: {_tokens.CertificateFile}");
                break;
        }

        var file = Path.Combine(_directory, "config.yml");
        await File.WriteAllTextAsync(file, config.ToString());
        var psi = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(file);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, line) => _log.Add(line.Data);
        _process.ErrorDataReceived += (_, line) => _log.Add(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}:\n{Log}");
            }

            try
            {
                var ping = await http.GetAsync($"http://{Address}/v2/");
                if (ping.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"docker-registry did not answer within 60 s:\n{Log}");
            }

            await Task.Delay(100);
        }
    }

    private static async Task RunAsync(string program, IEnumerable<string> arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', psi.ArgumentList)} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }
    }

    /// <summary>
    /// A Docker token server (the protocol of Distribution's token auth): GET /token?service=&amp;scope= with Basic
    /// credentials answers {"token": JWT} granting the scope's actions to <see cref="User"/> (anonymous callers get
    /// nothing: the registry then refuses them). The JWT is ES256-signed with a self-signed certificate the registry trusts.
    /// </summary>
    public sealed class TokenServer : IAsyncDisposable
    {
        public const string Service = "portal-test-registry";
        public const string Issuer = "portal-test-issuer";
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        private readonly List<string> _requests = [];
        private X509Certificate2 _certificate = null!;
        private Task _serving = Task.CompletedTask;

        public string Realm => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/token";

        public string CertificateFile { get; private set; } = string.Empty;

        public IReadOnlyList<string> Requests
        {
            get
            {
                lock (_requests)
                {
                    return [.. _requests];
                }
            }
        }

        public static async Task<TokenServer> StartAsync(string directory)
        {
            var server = new TokenServer();
            var request = new CertificateRequest("CN=portal-test-token-issuer", server._key, HashAlgorithmName.SHA256);
            server._certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            server.CertificateFile = Path.Combine(directory, "token.crt");
            await File.WriteAllTextAsync(server.CertificateFile, server._certificate.ExportCertificatePem());
            server._listener.Start();
            server._serving = server.ServeAsync();
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _serving;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            _key.Dispose();
            _certificate.Dispose();
            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(() => AnswerAsync(client));
            }
        }

        /// <summary>One HTTP/1.1 request per connection: enough for the agent's HttpClient and skopeo.</summary>
        private async Task AnswerAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var reader = new StreamReader(stream, Encoding.ASCII);
                var requestLine = await reader.ReadLineAsync() ?? string.Empty;
                string? authorization = null;
                string? line;
                while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync()))
                {
                    if (line.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))
                    {
                        authorization = line["Authorization:".Length..].Trim();
                    }
                }

                var target = new Uri("http://x" + requestLine.Split(' ')[1]);
                var query = System.Web.HttpUtility.ParseQueryString(target.Query);
                var user = authorization is not null && authorization.StartsWith("Basic ", StringComparison.Ordinal)
                    ? Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..]))
                    : null;
                var scope = query["scope"] ?? string.Empty;
                lock (_requests)
                {
                    _requests.Add($"{(user is null ? "anonymous" : user.Split(':')[0])} {scope}");
                }

                string status;
                string body;
                if (user is not null && user != $"{User}:{Password}")
                {
                    status = "401 Unauthorized";
                    body = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"wrong user name or password\"}]}";
                }
                else
                {
                    status = "200 OK";
                    body = new JsonObject { ["token"] = Token(user is null ? null : User, scope), ["expires_in"] = 300 }.ToJsonString();
                }

                var bytes = Encoding.UTF8.GetBytes(body);
                var head = $"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                await stream.WriteAsync(bytes);
            }
        }

        /// <summary>A JWT granting <see cref="User"/> the actions of each scope ("repository:team/app:pull,push"); anonymous callers get no access.</summary>
        private string Token(string? user, string scopes)
        {
            var access = new JsonArray();
            if (user is not null)
            {
                foreach (var scope in scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = scope.Split(':');
                    if (parts.Length == 3)
                    {
                        access.Add(new JsonObject { ["type"] = parts[0], ["name"] = parts[1], ["actions"] = new JsonArray([.. parts[2].Split(',').Select(a => (JsonNode)a)]) });
                    }
                }
            }

            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "ES256", ["x5c"] = new JsonArray(Convert.ToBase64String(_certificate.RawData)) };
            var claims = new JsonObject
            {
                ["iss"] = Issuer,
                ["sub"] = user ?? string.Empty,
                ["aud"] = Service,
                ["exp"] = now + 300,
                ["nbf"] = now - 60,
                ["iat"] = now,
                ["jti"] = Guid.NewGuid().ToString("N"),
                ["access"] = access,
            };
            var signed = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));
            var signature = _key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            return signed + "." + Base64Url(signature);
        }

        private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
