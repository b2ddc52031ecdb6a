using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Portal.Web.Data;

/// <summary>The portal's state in PostgreSQL; its migrations are in Data/Migrations/PostgreSql.</summary>
public sealed class PostgreSqlPortalDbContext(DbContextOptions<PostgreSqlPortalDbContext> options) : PortalDbContext(options)
{
    /// <summary>For `dotnet ef migrations add`: a context without starting the portal (no server is contacted).</summary>
    public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<PostgreSqlPortalDbContext>
    {
        public PostgreSqlPortalDbContext CreateDbContext(string[] args) =>
            new(new DbContextOptionsBuilder<PostgreSqlPortalDbContext>().UseNpgsql("Host=localhost;Database=portal").Options);
    }
}
