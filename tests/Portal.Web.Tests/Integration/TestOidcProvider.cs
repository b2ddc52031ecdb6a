using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Portal.Web.Tests.Integration;

/// <summary>
/// A small identity provider for tests, behind the real protocol: discovery, an authorize endpoint (code flow, PKCE
/// S256 required), a token endpoint that checks the client secret, the redirect address and the code verifier, and the
/// key set its RS256-signed id_tokens verify against. No login page: the authorize endpoint signs in <see cref="NextUser"/>
/// at once, as a provider does for a user with a session there. It stands in for the external provider only; the portal
/// under test runs its real OpenID Connect handler against it.
/// </summary>
public sealed class TestOidcProvider : IAsyncDisposable
{
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly RsaSecurityKey _key;
    private readonly ConcurrentDictionary<string, Grant> _codes = new();
    private readonly WebApplication _app;

    public TestOidcProvider(string clientId, string clientSecret)
    {
        ClientId = clientId;
        ClientSecret = clientSecret;
        _key = new RsaSecurityKey(_rsa) { KeyId = "test-key" };
        Port = FreeTcpPort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(Authority);
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = Authority,
            ["authorization_endpoint"] = $"{Authority}/authorize",
            ["token_endpoint"] = $"{Authority}/token",
            ["jwks_uri"] = $"{Authority}/jwks",
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["code_challenge_methods_supported"] = new[] { "S256" },
            ["token_endpoint_auth_methods_supported"] = new[] { "client_secret_post" },
        }));
        _app.MapGet("/jwks", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(_rsa.ExportParameters(false)) { KeyId = _key.KeyId });
            return Results.Json(new { keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
        });
        _app.MapGet("/authorize", Authorize);
        _app.MapPost("/token", TokenAsync);
    }

    public int Port { get; }

    public string Authority => $"http://127.0.0.1:{Port}";

    public string ClientId { get; }

    public string ClientSecret { get; }

    /// <summary>Who the next authorize request signs in.</summary>
    public TestOidcUser? NextUser { get; set; }

    /// <summary>The last authorize request's query, to check what the portal asked for (PKCE, scopes).</summary>
    public IQueryCollection? LastAuthorize { get; private set; }

    public Task StartAsync() => _app.StartAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _rsa.Dispose();
    }

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        LastAuthorize = q;
        if (q["client_id"] != ClientId || q["response_type"] != "code" || q["code_challenge_method"] != "S256" || string.IsNullOrEmpty(q["code_challenge"])
            || string.IsNullOrEmpty(q["redirect_uri"]) || string.IsNullOrEmpty(q["state"]))
        {
            return Results.BadRequest("invalid_request: client_id, response_type=code, redirect_uri, state and an S256 code_challenge are required");
        }

        if (NextUser is not { } user)
        {
            return Results.Redirect($"{q["redirect_uri"]}?error=access_denied&state={Uri.EscapeDataString(q["state"]!)}");
        }

        var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _codes[code] = new Grant(user, q["redirect_uri"]!, q["code_challenge"]!, q["nonce"]);
        return Results.Redirect($"{q["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(q["state"]!)}");
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret)
        {
            return Results.Json(new { error = "invalid_client" }, statusCode: 401);
        }

        if (form["grant_type"] != "authorization_code" || !_codes.TryRemove(form["code"].ToString(), out var grant) || form["redirect_uri"] != grant.RedirectUri
            || Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != grant.Challenge)
        {
            return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
        }

        var claims = new Dictionary<string, object> { ["sub"] = grant.User.Subject };
        if (grant.User.PreferredUserName is { } name)
        {
            claims["preferred_username"] = name;
        }

        if (grant.User.Groups is { Length: > 0 } groups)
        {
            claims["groups"] = groups;
        }

        if (grant.Nonce is { } nonce)
        {
            claims["nonce"] = nonce;
        }

        var now = DateTime.UtcNow;
        var idToken = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Authority,
            Audience = ClientId,
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddMinutes(5),
            Claims = claims,
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.RsaSha256),
        });
        return Results.Json(new { access_token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), token_type = "Bearer", expires_in = 300, id_token = idToken });
    }

    private sealed record Grant(TestOidcUser User, string RedirectUri, string Challenge, string? Nonce);
}

/// <summary>A user at the test provider: its subject, user name and groups.</summary>
public sealed record TestOidcUser(string Subject, string? PreferredUserName, params string[] Groups);
