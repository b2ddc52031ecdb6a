using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Portal.Web.Data;

namespace Portal.Web.Tests.Data;

/// <summary>Choosing the database from configuration (unit tier: nothing is opened).</summary>
public sealed class PortalStorageTests
{
    [Fact]
    public void Sqlite_is_the_default_and_PostgreSQL_is_chosen_by_configuration()
    {
        var sqlite = PortalStorage.From(Configuration(), new PortalOptions { Database = "/srv/portal/portal.db" });
        Assert.Equal((DatabaseProvider.Sqlite, "/srv/portal/portal.db"), (sqlite.Provider, sqlite.SqliteFile));
        Assert.Equal("SQLite /srv/portal/portal.db", sqlite.Describe());

        var postgres = PortalStorage.From(
            Configuration(("ConnectionStrings:Portal", "Host=db.example.org;Database=portal;Username=portal;Password=secret")),
            new PortalOptions { DatabaseProvider = "postgresql" });
        Assert.Equal(DatabaseProvider.PostgreSQL, postgres.Provider);
        Assert.Null(postgres.SqliteFile);
        Assert.Equal("PostgreSQL db.example.org:5432/portal", postgres.Describe());
    }

    [Theory]
    [InlineData("MySql", null, "Portal:DatabaseProvider 'MySql' is not a database provider: use Sqlite or PostgreSQL")]
    [InlineData("1", null, "Portal:DatabaseProvider '1' is not a database provider")]
    [InlineData("PostgreSQL", null, "ConnectionStrings:Portal is empty: set it (environment ConnectionStrings__Portal)")]
    [InlineData("PostgreSQL", "Hots=db;Password=secret", "is not a PostgreSQL connection string")]
    [InlineData("PostgreSQL", "Database=portal;Password=secret", "names no Host")]
    [InlineData("Sqlite", "Host=db", "ConnectionStrings:Portal is set but Portal:DatabaseProvider is Sqlite")]
    public void A_bad_setting_is_refused_with_what_to_set(string provider, string? connectionString, string expected)
    {
        var e = Assert.Throws<InvalidOperationException>(() => PortalStorage.From(
            Configuration(("ConnectionStrings:Portal", connectionString)), new PortalOptions { DatabaseProvider = provider }));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("secret", e.Message);
    }

    /// <summary>
    /// A model change needs a migration for each provider (Migrate refuses to run otherwise):
    /// see docs/configuration.md for the two `dotnet ef migrations add` commands.
    /// </summary>
    [Fact]
    public void Every_provider_has_migrations_for_the_whole_model()
    {
        using var sqlite = new SqlitePortalDbContext.DesignTimeFactory().CreateDbContext([]);
        using var postgres = new PostgreSqlPortalDbContext.DesignTimeFactory().CreateDbContext([]);
        foreach (PortalDbContext db in new PortalDbContext[] { sqlite, postgres })
        {
            Assert.NotEmpty(db.Database.GetMigrations());
            Assert.False(db.Database.HasPendingModelChanges(), $"{db.GetType().Name}'s migrations miss model changes: add a migration for it");
        }
    }

    private static IConfiguration Configuration(params (string Key, string? Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, s.Value))).Build();
}
