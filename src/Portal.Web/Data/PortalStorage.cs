using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Portal.Web.Data;

/// <summary>
/// Which database the portal uses and how to reach it, checked once at start: SQLite (<see cref="PortalOptions.Database"/>)
/// by default, PostgreSQL when <see cref="PortalOptions.DatabaseProvider"/> says so, with the connection string
/// <c>ConnectionStrings:Portal</c>. <see cref="AddTo"/> registers the provider's context behind <see cref="PortalDbContext"/>.
/// </summary>
public sealed record PortalStorage(DatabaseProvider Provider, string ConnectionString)
{
    /// <summary>The name under ConnectionStrings (environment: ConnectionStrings__Portal).</summary>
    public const string ConnectionStringName = "Portal";

    private const string Example = "Host=db.example.org;Port=5432;Database=portal;Username=portal;Password=...";

    /// <summary>The storage the configuration names; a bad setting is refused with what to set instead.</summary>
    public static PortalStorage From(IConfiguration configuration, PortalOptions options)
    {
        var name = options.DatabaseProvider?.Trim() ?? "";
        var provider = Enum.GetValues<DatabaseProvider>().Cast<DatabaseProvider?>()
            .FirstOrDefault(p => string.Equals(p.ToString(), name, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException(
                $"Portal:DatabaseProvider '{options.DatabaseProvider}' is not a database provider: use {string.Join(" or ", Enum.GetNames<DatabaseProvider>())}.");
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (provider == DatabaseProvider.Sqlite)
        {
            if (!string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException(
                    $"ConnectionStrings:{ConnectionStringName} is set but Portal:DatabaseProvider is Sqlite, whose file is Portal:Database: set Portal:DatabaseProvider=PostgreSQL to use that server, or remove the connection string.");
            }

            if (string.IsNullOrWhiteSpace(options.Database))
            {
                throw new InvalidOperationException("Portal:Database is empty: name the SQLite file, such as /var/lib/portal/portal.db.");
            }

            return Sqlite(options.Database);
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"Portal:DatabaseProvider is PostgreSQL but ConnectionStrings:{ConnectionStringName} is empty: set it (environment ConnectionStrings__{ConnectionStringName}), such as {Example}.");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the string itself: it may hold a password.
            throw new InvalidOperationException($"ConnectionStrings:{ConnectionStringName} is not a PostgreSQL connection string ({e.Message}): write it as {Example}.", e);
        }

        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new InvalidOperationException($"ConnectionStrings:{ConnectionStringName} names no Host: write it as {Example}.");
        }

        return new PortalStorage(DatabaseProvider.PostgreSQL, connectionString);
    }

    public static PortalStorage Sqlite(string path) =>
        new(DatabaseProvider.Sqlite, new SqliteConnectionStringBuilder { DataSource = path }.ToString());

    /// <summary>The SQLite file; null for a server.</summary>
    public string? SqliteFile => Provider == DatabaseProvider.Sqlite ? new SqliteConnectionStringBuilder(ConnectionString).DataSource : null;

    /// <summary>Where the data is, for logs and errors: the file, or host, port and database (never the password).</summary>
    public string Describe()
    {
        if (SqliteFile is { } file)
        {
            return $"SQLite {file}";
        }

        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database ?? builder.Username}";
    }

    /// <summary>
    /// Registers the provider's context as <see cref="PortalDbContext"/> (scoped, as Identity's stores want it) and
    /// <see cref="IDbContextFactory{PortalDbContext}"/>, and this storage.
    /// </summary>
    public void AddTo(IServiceCollection services)
    {
        services.AddSingleton(this);
        switch (Provider)
        {
            case DatabaseProvider.Sqlite:
                Add<SqlitePortalDbContext>(services, o => o.UseSqlite(ConnectionString));
                break;
            case DatabaseProvider.PostgreSQL:
                Add<PostgreSqlPortalDbContext>(services, o => o.UseNpgsql(ConnectionString));
                break;
            default:
                throw new InvalidOperationException($"Unknown database provider {Provider}.");
        }
    }

    private static void Add<TContext>(IServiceCollection services, Action<DbContextOptionsBuilder> configure)
        where TContext : PortalDbContext
    {
        services.AddDbContextFactory<TContext>(configure);
        services.AddSingleton<IDbContextFactory<PortalDbContext>>(sp => new ContextFactory<TContext>(sp.GetRequiredService<IDbContextFactory<TContext>>()));
        services.AddScoped<PortalDbContext>(sp => sp.GetRequiredService<TContext>());
    }

    private sealed class ContextFactory<TContext>(IDbContextFactory<TContext> inner) : IDbContextFactory<PortalDbContext>
        where TContext : PortalDbContext
    {
        public PortalDbContext CreateDbContext() => inner.CreateDbContext();

        public async Task<PortalDbContext> CreateDbContextAsync(CancellationToken cancellationToken = default) =>
            await inner.CreateDbContextAsync(cancellationToken);
    }
}
