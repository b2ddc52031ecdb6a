using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Portal.Web.Data;

/// <summary>The portal's own state: users (ASP.NET Core Identity) and the host registry. SQLite by default.</summary>
public sealed class PortalDbContext(DbContextOptions<PortalDbContext> options) : IdentityDbContext<PortalUser>(options)
{
    public DbSet<HostRecord> Hosts => Set<HostRecord>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.Entity<HostRecord>(host =>
        {
            host.HasKey(h => h.Id);
            host.HasIndex(h => h.Name).IsUnique();
            host.Property(h => h.Name).HasMaxLength(64);
            host.Property(h => h.Address).HasMaxLength(512);
            // SQLite cannot order by DateTimeOffset: store UTC.
            host.Property(h => h.AddedAt).HasConversion(v => v.UtcDateTime, v => new DateTimeOffset(v, TimeSpan.Zero));
        });
    }
}
