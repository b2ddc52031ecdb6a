using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

namespace Portal.Web.Data;

/// <summary>What bringing a database up to date did.</summary>
/// <param name="Created">The database had none of the portal's tables: it is new (first start).</param>
/// <param name="Baselined">The initial migration marked applied on a database made before migrations (EnsureCreated), or null.</param>
/// <param name="Applied">The migrations applied now, oldest first.</param>
public sealed record MigrationOutcome(bool Created, string? Baselined, IReadOnlyList<string> Applied);

/// <summary>
/// Brings the portal's database to the model's latest migration at start-up. A SQLite file made by the portal before it
/// had migrations (EnsureCreated: the tables but no __EFMigrationsHistory) keeps its data: its initial migration is
/// marked applied (a baseline) and later ones run on it. Starts on one database (portal nodes on one PostgreSQL) take
/// turns (<see cref="LockAsync"/>), so migrations and the first-start steps run once.
/// </summary>
public static class PortalMigrations
{
    /// <summary>The session-level advisory lock the portal nodes of one PostgreSQL database take at start ("portaldb").</summary>
    public const long AdvisoryLockKey = 0x706F7274616C6462;

    /// <summary>The tables of the initial migration, all of which a database made by EnsureCreated has.</summary>
    private static readonly string[] InitialTables = ["AspNetUsers", "Hosts"];

    /// <summary>
    /// Waits for and holds the start lock of the portal's database until disposed, so that one start at a time migrates
    /// it and makes the first administrator (EF's own migration lock covers Migrate only). On PostgreSQL a session-level
    /// advisory lock on a connection of its own; on SQLite an exclusive lock (flock) on the file beside the database,
    /// <c>&lt;database&gt;.start-lock</c>. Both end with the process that holds them, however it ends.
    /// </summary>
    public static async Task<IAsyncDisposable> LockAsync(PortalStorage storage, CancellationToken cancellationToken)
    {
        if (storage.SqliteFile is { } file)
        {
            return await LockFileAsync(file + ".start-lock", cancellationToken).ConfigureAwait(false);
        }

        // Unpooled: closing ends the session, which releases the lock even where an unlock could not be sent.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(storage.ConnectionString) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", connection);
            command.Parameters.AddWithValue("key", AdvisoryLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// EF's migration lock on SQLite is a row in __EFMigrationsLock that a start killed while migrating leaves behind, and
    /// every later Migrate would wait for it for good. Under <see cref="LockAsync"/> no other start is migrating: such
    /// a row is stale and removed.
    /// </summary>
    public static async Task<bool> RemoveStaleSqliteMigrationLockAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        if (!db.Database.IsSqlite())
        {
            return false;
        }

        var tables = await db.Database.SqlQueryRaw<string>("SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock'")
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        return tables.Count > 0 && await db.Database.ExecuteSqlRawAsync("DELETE FROM \"__EFMigrationsLock\"", cancellationToken).ConfigureAwait(false) > 0;
    }

    private static async Task<FileStream> LockFileAsync(string path, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        while (true)
        {
            try
            {
                // FileShare.None takes flock(LOCK_EX | LOCK_NB) on Linux: held until closed or the process ends.
                return new FileStream(path, options);
            }
            catch (IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Baselines a database made before migrations, then applies every pending migration.</summary>
    public static async Task<MigrationOutcome> MigrateAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        var applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        string? baselined = null;
        var created = false;
        if (applied.Count == 0)
        {
            var tables = await ExistingInitialTablesAsync(db, cancellationToken).ConfigureAwait(false);
            if (tables.Count == InitialTables.Length)
            {
                baselined = await BaselineAsync(db, cancellationToken).ConfigureAwait(false);
            }
            else if (tables.Count > 0)
            {
                throw new InvalidOperationException(
                    $"The database has the portal's table(s) {string.Join(", ", tables)} but not {string.Join(", ", InitialTables.Except(tables))} and no migration history: it was not made by the portal. Move it away (the portal then makes a new one) or restore the portal's own.");
            }
            else
            {
                created = true;
            }
        }

        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
        if (db.Database.IsSqlite())
        {
            // Write-ahead logging (the file keeps it): a reader never holds up a writer's commit. With the rollback journal
            // a circuit's session check, reading the user, made disabling that user fail with "database is locked".
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
        }

        return new MigrationOutcome(created, baselined, pending);
    }

    /// <summary>Marks the initial migration applied, as if it had made the tables EnsureCreated made (the same model).</summary>
    private static async Task<string> BaselineAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        var initial = db.Database.GetMigrations().First();
        var history = db.GetService<IHistoryRepository>();
        var script = history.GetCreateIfNotExistsScript() + history.GetInsertScript(new HistoryRow(initial, ProductInfo.GetVersion()));
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = script;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await db.Database.CloseConnectionAsync().ConfigureAwait(false);
        }

        return initial;
    }

    private static async Task<List<string>> ExistingInitialTablesAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        var sql = db.Database.IsNpgsql()
            ? "SELECT table_name AS \"Value\" FROM information_schema.tables WHERE table_schema = current_schema()"
            : "SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'table'";
        var tables = await db.Database.SqlQueryRaw<string>(sql).ToListAsync(cancellationToken).ConfigureAwait(false);
        return InitialTables.Where(t => tables.Contains(t, StringComparer.Ordinal)).ToList();
    }

}
