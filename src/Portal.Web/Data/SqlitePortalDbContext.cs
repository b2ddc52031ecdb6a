using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Portal.Web.Data;

/// <summary>The portal's state in SQLite; its migrations are in Data/Migrations/Sqlite.</summary>
public sealed class SqlitePortalDbContext(DbContextOptions<SqlitePortalDbContext> options) : PortalDbContext(options)
{
    /// <summary>For `dotnet ef migrations add`: a context without starting the portal (the file is never opened).</summary>
    public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<SqlitePortalDbContext>
    {
        public SqlitePortalDbContext CreateDbContext(string[] args) =>
            new(new DbContextOptionsBuilder<SqlitePortalDbContext>().UseSqlite("Data Source=design-time.db").Options);
    }
}
