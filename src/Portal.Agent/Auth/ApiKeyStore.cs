using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Portal.Compute;
using Portal.Compute.Storage;
using Portal.Compute.Teams;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>
/// The agent's API keys: "pk_&lt;id&gt;_&lt;secret&gt;", stored only as SHA-256 hashes in a 0600 file under the state root.
/// The first start creates an admin key and hands it over once (<see cref="ApiKeyBootstrap"/>); the handed-over file goes
/// when that key is rotated or revoked, so no stale secret lies around.
/// </summary>
public sealed class ApiKeyStore
{
    private readonly string _path;
    private readonly string _handedOver;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private List<StoredKey> _keys;

    private sealed record StoredKey(string Id, string Name, ApiScope Scope, string SecretHash, DateTimeOffset CreatedAt, DateTimeOffset? RotatedAt, DateTimeOffset? RevokedAt,
        string? Team = null, TeamRole? Role = null)
    {
        public ApiKeyInfo ToInfo() => new(Id, Name, Scope, CreatedAt, RotatedAt, RevokedAt, Team, Role);
    }

    public ApiKeyStore(IOptions<ComputeOptions> compute)
    {
        _path = Path.Combine(compute.Value.StateRoot, "agent", "api-keys.json");
        _handedOver = ApiKeyBootstrap.PathUnder(compute.Value.StateRoot);
        _keys = StateFile.Read<List<StoredKey>>(_path) ?? [];
    }

    public bool IsEmpty => _keys.Count == 0;

    /// <summary>A key was rotated or revoked (its id): whoever holds connections opened with its old secret closes them.</summary>
    public event Action<string>? KeyInvalidated;

    /// <summary>
    /// Whether a caller authenticated as key <paramref name="id"/> with the secret of <paramref name="stamp"/>
    /// (<see cref="ApiKeyInfo"/>'s <c>RotatedAt</c> then, see <see cref="StampOf"/>) may still act: neither revoked nor rotated since.
    /// </summary>
    public bool IsCurrent(string id, string stamp) =>
        _keys.FirstOrDefault(k => k.Id == id) is { RevokedAt: null } key && StampOf(key.ToInfo()) == stamp;

    /// <summary>Which secret of a key a caller used: it changes with every rotation.</summary>
    public static string StampOf(ApiKeyInfo key) => (key.RotatedAt?.UtcTicks ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public IReadOnlyList<ApiKeyInfo> List() => _keys.Select(k => k.ToInfo()).ToList();

    /// <summary>The key id a token claims when it is shaped like a key (valid or not); null otherwise. Never the secret.</summary>
    public static string? ClaimedId(string token) => TryParse(token, out var id, out _) && id.All(char.IsAsciiHexDigitLower) ? id : null;

    /// <summary>The key's scope when the token is a valid, unrevoked key; null otherwise.</summary>
    public ApiKeyInfo? Validate(string token)
    {
        if (!TryParse(token, out var id, out var secret))
        {
            return null;
        }

        var key = _keys.FirstOrDefault(k => k.Id == id);
        if (key is null || key.RevokedAt is not null)
        {
            return null;
        }

        return CryptographicOperations.FixedTimeEquals(Convert.FromHexString(key.SecretHash), Hash(secret)) ? key.ToInfo() : null;
    }

    /// <summary>
    /// Creates a key. <paramref name="handOver"/>, when given, gets the secret before the key is saved: a crash in between
    /// leaves a secret that does not work yet (and no key), never a saved key whose secret nobody has.
    /// </summary>
    public async Task<ApiKeyCreated> CreateAsync(string name, ApiScope scope, CancellationToken ct = default, Func<string, CancellationToken, Task>? handOver = null,
        string? team = null, TeamRole? role = null)
    {
        if (team is not null || role is not null)
        {
            // A team key's scope follows its role; the global Admin scope stays outside teams.
            if (team is null || role is null || !Enum.IsDefined(role.Value))
            {
                throw new ComputeException(ComputeErrorCode.InvalidArgument, "A team key needs both a team and a role (Owner, Member, Operator or Viewer).");
            }

            TeamStore.ValidateName(team);
            scope = ScopeOf(role.Value);
        }

        if (string.IsNullOrWhiteSpace(name) || name.Length > 100)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Give the key a name of 1 to 100 characters (who or what uses it).");
        }

        if (!Enum.IsDefined(scope))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Scope must be Read, Operate or Admin.");
        }

        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
            var secret = NewSecret();
            var key = new StoredKey(id, name.Trim(), scope, Convert.ToHexStringLower(Hash(secret)), DateTimeOffset.UtcNow, null, null, team, role);
            if (handOver is not null)
            {
                await handOver(Format(id, secret), ct).ConfigureAwait(false);
            }

            await SaveAsync([.. _keys, key], ct).ConfigureAwait(false);
            return new ApiKeyCreated(key.ToInfo(), Format(id, secret));
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Issues a new secret for the key; the old one stops working at once.</summary>
    public async Task<ApiKeyCreated> RotateAsync(string id, CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var key = Find(id);
            var secret = NewSecret();
            var rotated = key with { SecretHash = Convert.ToHexStringLower(Hash(secret)), RotatedAt = DateTimeOffset.UtcNow };
            await SaveAsync(_keys.Select(k => k.Id == id ? rotated : k).ToList(), ct).ConfigureAwait(false);
            ForgetHandedOver(id);
            KeyInvalidated?.Invoke(id);
            return new ApiKeyCreated(rotated.ToInfo(), Format(id, secret));
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<ApiKeyInfo> RevokeAsync(string id, CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var revoked = Find(id) with { RevokedAt = DateTimeOffset.UtcNow };
            await SaveAsync(_keys.Select(k => k.Id == id ? revoked : k).ToList(), ct).ConfigureAwait(false);
            ForgetHandedOver(id);
            KeyInvalidated?.Invoke(id);
            return revoked.ToInfo();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// The scope a team caller passes the scope check with: Operate whatever its role, never Admin, so that the role
    /// rules (one decision for REST, the hub and every later entry point) refuse what the role may not do, naming the role.
    /// </summary>
    public static ApiScope ScopeOf(TeamRole role) => Enum.IsDefined(role) ? ApiScope.Operate : ApiScope.Read;

    private StoredKey Find(string id) => _keys.FirstOrDefault(k => k.Id == id && k.RevokedAt is null)
        ?? throw new ComputeException(ComputeErrorCode.InvalidArgument, $"No active API key with id '{id}'. List the keys to see their ids.");

    private void ForgetHandedOver(string id)
    {
        try
        {
            if (File.Exists(_handedOver) && File.ReadAllText(_handedOver).StartsWith(Format(id, ""), StringComparison.Ordinal))
            {
                File.Delete(_handedOver);
            }
        }
        catch (IOException)
        {
            // Best effort: the secret in it no longer works anyway.
        }
    }

    private async Task SaveAsync(List<StoredKey> keys, CancellationToken ct)
    {
        await StateFile.WriteAsync(_path, keys, ct).ConfigureAwait(false);
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        _keys = keys;
    }

    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Format(string id, string secret) => $"pk_{id}_{secret}";

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static bool TryParse(string token, out string id, out string secret)
    {
        id = secret = "";
        var parts = token.Trim().Split('_', 3);
        if (parts.Length != 3 || parts[0] != "pk" || parts[1].Length != 8 || parts[2].Length < 20)
        {
            return false;
        }

        (id, secret) = (parts[1], parts[2]);
        return true;
    }
}
