using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Portal.Client;
using Portal.Web.Data;

namespace Portal.Web.Hosts;

/// <summary>A registered agent as the portal keeps it: its key already unprotected, ready to connect.</summary>
public sealed record RegisteredHost(string Id, string Name, AgentEndpoint Endpoint, DateTimeOffset AddedAt);

/// <summary>
/// The persisted list of agents. Validates what users enter (a clear message per mistake) and keeps API keys protected at
/// rest with ASP.NET Data Protection; only this class sees them in the clear.
/// </summary>
public sealed class HostRegistry(IDbContextFactory<PortalDbContext> databases, IDataProtectionProvider protection, TimeProvider time)
{
    private readonly IDataProtector _keys = protection.CreateProtector("Portal.Web.Hosts.ApiKey");

    public async Task<IReadOnlyList<RegisteredHost>> ListAsync(CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        var records = await db.Hosts.AsNoTracking().OrderBy(h => h.Name).ToListAsync(ct);
        return records.Select(ToHost).ToList();
    }

    /// <summary>Adds an agent; throws <see cref="ArgumentException"/> that says what to fix.</summary>
    public async Task<RegisteredHost> AddAsync(string name, string address, string? apiKey, CancellationToken ct)
    {
        name = ValidateName(name);
        var endpoint = AgentEndpoint.Parse(address, apiKey);
        await using var db = await databases.CreateDbContextAsync(ct);
        if (await db.Hosts.AnyAsync(h => h.Name == name, ct))
        {
            throw new ArgumentException($"A host named '{name}' is already registered: pick another name, or remove that host first.", nameof(name));
        }

        var record = new HostRecord
        {
            Id = Guid.NewGuid().ToString("n")[..12],
            Name = name,
            Address = endpoint.Display,
            ProtectedApiKey = endpoint.ApiKey is { } key ? _keys.Protect(key) : null,
            AddedAt = time.GetUtcNow(),
        };
        db.Hosts.Add(record);
        await db.SaveChangesAsync(ct);
        return ToHost(record);
    }

    public async Task<bool> RemoveAsync(string id, CancellationToken ct)
    {
        await using var db = await databases.CreateDbContextAsync(ct);
        return await db.Hosts.Where(h => h.Id == id).ExecuteDeleteAsync(ct) > 0;
    }

    internal static string ValidateName(string? name)
    {
        name = name?.Trim() ?? "";
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"'{name}' is not a host name: use 1 to 64 letters, digits, '-', '_' or '.' (for example web-01).", nameof(name));
        }

        return name;
    }

    private RegisteredHost ToHost(HostRecord record) => new(
        record.Id,
        record.Name,
        AgentEndpoint.Parse(record.Address, record.ProtectedApiKey is { } key ? _keys.Unprotect(key) : null),
        record.AddedAt);
}
