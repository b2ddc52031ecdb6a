using Portal.Compute;
using Portal.Compute.Storage;
using Portal.Contracts;

namespace Portal.Docker.Tls;

/// <summary>
/// The client certificates this agent issued (serial, team, user, validity, fingerprint; never a key) and which are
/// revoked, in one file under the state root written atomically. The docker TLS listener accepts only a certificate
/// recorded here and not revoked, so revocation covers every certificate the CA could have signed.
/// </summary>
public sealed class TeamCertificateStore
{
    private readonly string _path;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private Dictionary<string, TeamCertificateInfo> _bySerial;

    public TeamCertificateStore(string directory)
    {
        _path = Path.Combine(directory, "certificates.json");
        _bySerial = (StateFile.Read<List<TeamCertificateInfo>>(_path) ?? []).ToDictionary(c => c.Serial, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Raised after a certificate is revoked (on the revoking thread): the listener ends its requests in progress.</summary>
    public event Action<TeamCertificateInfo>? Revoked;

    public TeamCertificateInfo? Find(string serial) => _bySerial.GetValueOrDefault(serial);

    /// <summary>The team's certificates, newest first (revoked and expired ones too).</summary>
    public IReadOnlyList<TeamCertificateInfo> List(string team) =>
        _bySerial.Values.Where(c => c.Team == team).OrderByDescending(c => c.NotBefore).ThenBy(c => c.Serial, StringComparer.Ordinal).ToList();

    public Task AddAsync(TeamCertificateInfo certificate, CancellationToken ct = default) =>
        UpdateAsync(all => all[certificate.Serial] = certificate, ct);

    /// <summary>Revokes one of the team's certificates (again is a no-op that keeps the first time); null when the team has no such serial.</summary>
    public async Task<TeamCertificateInfo?> RevokeAsync(string team, string serial, DateTimeOffset now, CancellationToken ct = default)
    {
        TeamCertificateInfo? revoked = null;
        await UpdateAsync(all =>
        {
            if (all.GetValueOrDefault(serial) is { } found && found.Team == team)
            {
                revoked = found.RevokedAt is null ? found with { RevokedAt = now } : found;
                all[found.Serial] = revoked;
            }
        }, ct).ConfigureAwait(false);
        if (revoked is not null)
        {
            Revoked?.Invoke(revoked);
        }

        return revoked;
    }

    private async Task UpdateAsync(Action<Dictionary<string, TeamCertificateInfo>> change, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var next = new Dictionary<string, TeamCertificateInfo>(_bySerial, StringComparer.OrdinalIgnoreCase);
            change(next);
            await StateFile.WriteAsync(_path, next.Values.OrderBy(c => c.NotBefore).ThenBy(c => c.Serial, StringComparer.Ordinal).ToList(), ct).ConfigureAwait(false);
            _bySerial = next;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>A serial as the API takes it: hex digits, any case; what is wrong otherwise.</summary>
    public static string ValidateSerial(string? serial)
    {
        if (string.IsNullOrEmpty(serial) || serial.Length > 64 || !serial.All(char.IsAsciiHexDigit))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument,
                $"'{serial}' is not a certificate serial: send the hex serial the issue call returned (GET /api/teams/{{team}}/certificates lists them).");
        }

        return serial.ToUpperInvariant();
    }
}
