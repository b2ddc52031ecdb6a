using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Portal.Web.Data;

/// <summary>
/// The portal's own state: users (ASP.NET Core Identity), the host registry and the teams; the model is the same on every provider.
/// EF Core keeps one migration set per provider and finds a set by the context type it was made for, so each provider
/// has its own subclass (<see cref="SqlitePortalDbContext"/>, <see cref="PostgreSqlPortalDbContext"/>, the "multiple
/// context types" way of EF's docs, Migrations with Multiple Providers); everything else asks for this type.
/// </summary>
public abstract class PortalDbContext(DbContextOptions options) : IdentityDbContext<PortalUser>(options)
{
    public DbSet<HostRecord> Hosts => Set<HostRecord>();

    public DbSet<TeamRecord> Teams => Set<TeamRecord>();

    public DbSet<TeamMemberRecord> TeamMembers => Set<TeamMemberRecord>();

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
        builder.Entity<PortalUser>().Property(u => u.ActingTeam).HasMaxLength(63);
        builder.Entity<TeamRecord>(team =>
        {
            team.HasKey(t => t.Name);
            team.Property(t => t.Name).HasMaxLength(63);
            team.Property(t => t.CreatedAt).HasConversion(v => v.UtcDateTime, v => new DateTimeOffset(v, TimeSpan.Zero));
            team.HasMany(t => t.Members).WithOne().HasForeignKey(m => m.TeamName).OnDelete(DeleteBehavior.Cascade);
        });
        builder.Entity<TeamMemberRecord>(member =>
        {
            member.HasKey(m => new { m.TeamName, m.UserName });
            member.HasIndex(m => m.UserName);
            member.Property(m => m.UserName).HasMaxLength(256);
            member.Property(m => m.Role).HasConversion<string>().HasMaxLength(16);
        });
    }
}
