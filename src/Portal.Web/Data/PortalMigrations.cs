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
/// marked applied (a baseline) and later ones run on it. Several portal nodes on one PostgreSQL start one at a time
/// (<see cref="LockAsync"/>), so migrations and the first-start steps run once.
/// </summary>
public static class PortalMigrations
{
    /// <summary>The session-level advisory lock the portal nodes of one PostgreSQL database take at start ("portaldb").</summary>
    public const long AdvisoryLockKey = 0x706F7274616C6462;

    /// <summary>The tables of the initial migration, all of which a database made by EnsureCreated has.</summary>
    private static readonly string[] InitialTables = ["AspNetUsers", "Hosts"];

    /// <summary>
    /// On PostgreSQL, waits for and holds the portal's advisory lock on a connection of its own until disposed (EF's
    /// own migration lock covers Migrate only; this also covers the baseline and the first administrator). Nothing on
    /// SQLite, an embedded file of one portal (EF's lock table covers its Migrate).
    /// </summary>
    public static async Task<IAsyncDisposable> LockAsync(PortalStorage storage, CancellationToken cancellationToken)
    {
        if (storage.Provider != DatabaseProvider.PostgreSQL)
        {
            return NoLock.Instance;
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

    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
