using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Tests.Integration;

namespace Portal.Web.Tests.Data;

/// <summary>
/// The portal's start on each database (<see cref="PortalDatabase"/>): migrations make a new database once, with the first
/// administrator and the local host; a start on an up-to-date database changes nothing; a SQLite file made before
/// migrations keeps its data; portal nodes starting together on one PostgreSQL migrate it once.
/// </summary>
public abstract class PortalDatabaseTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("portal-db-start-").FullName;
    private readonly List<ServiceProvider> _nodes = [];

    protected TestDatabase Database { get; private set; } = null!;

    /// <summary>An empty database of this class's provider.</summary>
    protected abstract Task<TestDatabase> CreateEmptyDatabaseAsync();

    public async Task InitializeAsync() => Database = await CreateEmptyDatabaseAsync();

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await Database.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    public sealed class OnSqlite : PortalDatabaseTests
    {
        protected override Task<TestDatabase> CreateEmptyDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());

        [Fact]
        public async Task A_reader_in_the_middle_of_a_read_never_fails_a_writers_commit()
        {
            await StartNode().GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);

            // A circuit's session check reading the user (a deferred transaction that has read) ...
            await using var reader = new SqliteConnection(Database.Storage.ConnectionString);
            await reader.OpenAsync();
            await using var read = reader.BeginTransaction(deferred: true);
            await using (var select = reader.CreateCommand())
            {
                select.Transaction = read;
                select.CommandText = "SELECT COUNT(*) FROM AspNetUsers;";
                await select.ExecuteScalarAsync();
            }

            // ... while an administrator disables a user: the write commits (with a rollback journal it was "database is locked").
            await using var writer = new SqliteConnection(Database.Storage.ConnectionString);
            await writer.OpenAsync();
            await using var write = writer.BeginTransaction();
            await using (var update = writer.CreateCommand())
            {
                update.Transaction = write;
                update.CommandText = "UPDATE AspNetUsers SET LockoutEnabled = 1;";
                await update.ExecuteNonQueryAsync();
            }

            await write.CommitAsync();
        }

        [Fact]
        public async Task A_database_made_by_EnsureCreated_before_migrations_keeps_its_data_and_is_baselined()
        {
            // The file as the portal made it before it had migrations (see the script's header), then a start of this one.
            var file = Database.Storage.SqliteFile!;
            await using (var connection = new SqliteConnection(Database.Storage.ConnectionString))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Data", "ensure-created-portal.sql"));
                await command.ExecuteNonQueryAsync();
            }

            var node = StartNode();
            await node.GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);

            await using var scope = node.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            var admin = Assert.Single(users.Users.ToList());
            Assert.Equal("8f0e0bad-ce54-43d8-871c-89a0be904878", admin.Id);
            Assert.True(await users.CheckPasswordAsync(admin, "PYxXE2-rBEFbY-mE2"));
            Assert.True(admin.MustChangePassword);
            Assert.True(admin.IsAdministrator); // users made before roles stay administrators
            var host = Assert.Single(await db.Hosts.ToListAsync());
            Assert.Equal(("3d123ad60ab1", "local", "unix:///run/portal/agent.sock"), (host.Id, host.Name, host.Address));
            Assert.Equal(new DateTimeOffset(2026, 12, 3, 11, 59, 12, TimeSpan.Zero), host.AddedAt.AddTicks(-(host.AddedAt.Ticks % TimeSpan.TicksPerSecond)));
            Assert.False(File.Exists(OneTimePasswordFile.PathOf(Options)));

            // The baselined file has the schema a new database gets from the migrations.
            var fresh = TestDatabase.Sqlite();
            await using (fresh)
            {
                var options = new DbContextOptionsBuilder<SqlitePortalDbContext>().UseSqlite(fresh.Storage.ConnectionString).Options;
                await using (var made = new SqlitePortalDbContext(options))
                {
                    await made.Database.MigrateAsync();
                }

                Assert.Equal(await SchemaAsync(fresh.Storage.ConnectionString), await SchemaAsync(Database.Storage.ConnectionString));
            }

            Assert.True(File.Exists(file));
        }

        [Fact]
        public async Task A_database_with_only_some_of_the_portals_tables_is_refused_with_what_to_do()
        {
            await using (var connection = new SqliteConnection(Database.Storage.ConnectionString))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "CREATE TABLE \"Hosts\" (\"Id\" TEXT NOT NULL PRIMARY KEY)";
                await command.ExecuteNonQueryAsync();
            }

            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => StartNode().GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None));
            Assert.Contains("has the portal's table(s) Hosts but not AspNetUsers", e.Message);
            Assert.Contains("Move it away", e.Message);
        }

        [Fact]
        [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
        public async Task A_new_file_is_readable_by_its_owner_only()
        {
            await StartNode().GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Database.Storage.SqliteFile!));
        }

        [Fact]
        public async Task A_migration_lock_left_by_a_start_killed_while_migrating_does_not_hold_up_the_next()
        {
            // What EF's SQLite migration lock leaves when its process dies holding it.
            await using (var connection = new SqliteConnection(Database.Storage.ConnectionString))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = """
                    CREATE TABLE "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
                    INSERT INTO "__EFMigrationsLock" VALUES (1, '2026-12-03 12:00:00+00:00');
                    """;
                await command.ExecuteNonQueryAsync();
            }

            var node = StartNode();
            await node.GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));
            await using var scope = node.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        }

        /// <summary>Every table's columns (name, type, null, key) and every index, as SQLite describes them.</summary>
        private static async Task<List<string>> SchemaAsync(string connectionString)
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT m.type || ' ' || m.name || ': ' || COALESCE(c.name || ' ' || c.type || ' ' || c."notnull" || ' ' || c.pk, m.sql)
                FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) c ON m.type = 'table'
                WHERE m.name NOT LIKE '__EFMigrations%' AND m.name NOT LIKE 'sqlite_%'
                ORDER BY 1
                """;
            var rows = new List<string>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add(reader.GetString(0));
            }

            return rows;
        }
    }

    [RootOnlyTests]
    [Collection(PostgreSqlCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServer server) : PortalDatabaseTests
    {
        protected override Task<TestDatabase> CreateEmptyDatabaseAsync() => server.CreateDatabaseAsync(migrated: false);

        /// <summary>The real portal process, configured as docs/configuration.md says: it serves its sign-in page with its state in PostgreSQL.</summary>
        [DatabaseFact]
        public async Task The_portal_runs_on_PostgreSQL_chosen_by_configuration()
        {
            await using var portal = new PortalProcess(_directory, new Dictionary<string, string>
            {
                ["Portal__DatabaseProvider"] = "PostgreSQL",
                ["ConnectionStrings__Portal"] = Database.Storage.ConnectionString,
                ["Portal__LocalAgentSocket"] = Options.LocalAgentSocket,
            });
            await portal.StartAsync(waitForPasswordFile: false);
            await portal.WaitForOutputAsync("Created the portal database (PostgreSQL 127.0.0.1:");
            Assert.True(File.Exists(OneTimePasswordFile.PathOf(Options)));
            Assert.False(File.Exists(Options.Database)); // no SQLite file on the side
            await using var scope = StartNode().CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Equal(PortalDatabase.AdminUser, Assert.Single(await db.Users.ToListAsync()).UserName);
            Assert.Equal("local", Assert.Single(await db.Hosts.ToListAsync()).Name);
        }

        [DatabaseFact]
        public async Task A_server_that_refuses_the_portal_stops_the_start_with_where_and_what_to_check()
        {
            var wrong = new NpgsqlConnectionStringBuilder(Database.Storage.ConnectionString) { Password = "wrong-password-1234" }.ConnectionString;
            var node = StartNode(new PortalStorage(DatabaseProvider.PostgreSQL, wrong));
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => node.GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None));
            Assert.Contains("The portal database (PostgreSQL 127.0.0.1:", e.Message);
            Assert.Contains("password authentication failed", e.Message);
            Assert.Contains("Check Portal:DatabaseProvider and ConnectionStrings:Portal", e.Message);
            Assert.DoesNotContain("wrong-password-1234", e.Message);
        }

        [DatabaseFact]
        public async Task A_start_waits_while_another_node_holds_the_lock()
        {
            var storage = Database.Storage;
            var held = await PortalMigrations.LockAsync(storage, CancellationToken.None);
            var start = StartNode().GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);
            // The start waits for the lock (PostgreSQL shows its session waiting) and has changed nothing meanwhile...
            await using (var connection = new NpgsqlConnection(storage.ConnectionString))
            {
                await connection.OpenAsync();
                await using var waiting = new NpgsqlCommand(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", connection);
                var deadline = DateTime.UtcNow.AddMinutes(1);
                while ((long)(await waiting.ExecuteScalarAsync())! == 0)
                {
                    Assert.False(start.IsCompleted, "the start did not wait for the lock");
                    Assert.True(DateTime.UtcNow < deadline, "no start waited for the lock within a minute");
                    await Task.Delay(20);
                }
            }

            Assert.False(start.IsCompleted);
            await using (var scope = StartNode().CreateAsyncScope())
            {
                Assert.Empty(await scope.ServiceProvider.GetRequiredService<PortalDbContext>().Database.GetAppliedMigrationsAsync());
            }

            // ...and goes on once it is released.
            await held.DisposeAsync();
            await start.WaitAsync(TimeSpan.FromMinutes(1));
        }
    }

    [DatabaseFact]
    public async Task A_new_database_is_made_by_the_migrations_with_the_first_administrator_and_the_local_host()
    {
        var node = StartNode();
        await node.GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);

        await using (var scope = node.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.NotEmpty(db.Database.GetMigrations());
            Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            var admin = Assert.Single(users.Users.ToList());
            Assert.Equal(PortalDatabase.AdminUser, admin.UserName);
            Assert.True(admin.MustChangePassword);
            Assert.True(admin.IsAdministrator);
            var password = (await File.ReadAllTextAsync(OneTimePasswordFile.PathOf(Options))).Trim();
            Assert.True(await users.CheckPasswordAsync(admin, password));
            var host = Assert.Single(await node.GetRequiredService<HostRegistry>().ListAsync(CancellationToken.None));
            Assert.Equal(("local", "/run/portal/agent.sock"), (host.Name, host.Endpoint.SocketPath));
        }

        // A second start (a restart, or another node later) finds it up to date and adds nothing.
        File.Delete(OneTimePasswordFile.PathOf(Options));
        await StartNode().GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None);
        await using (var scope = node.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Single(await db.Users.ToListAsync());
            Assert.Single(await db.Hosts.ToListAsync());
            Assert.False(File.Exists(OneTimePasswordFile.PathOf(Options)));
        }
    }

    /// <summary>Portal nodes on one PostgreSQL (or starts on one SQLite file) that start together.</summary>
    [DatabaseFact]
    public async Task Nodes_starting_together_migrate_once_and_make_one_administrator_and_one_local_host()
    {
        var nodes = Enumerable.Range(0, 4).Select(_ => StartNode()).ToList();
        await Task.WhenAll(nodes.Select(n => Task.Run(() => n.GetRequiredService<PortalDatabase>().StartAsync(CancellationToken.None))));

        await using var scope = nodes[0].CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Equal(PortalDatabase.AdminUser, Assert.Single(await db.Users.ToListAsync()).UserName);
        Assert.Equal("local", Assert.Single(await db.Hosts.ToListAsync()).Name);
    }

    private PortalOptions Options => new()
    {
        Database = Database.Storage.SqliteFile ?? Path.Combine(_directory, "portal.db"),
        KeysDirectory = Path.Combine(_directory, "keys"),
        LocalAgentSocket = "/run/portal/agent.sock",
    };

    /// <summary>A portal node's database services (what <see cref="PortalServices"/> registers for them) on this class's database.</summary>
    private ServiceProvider StartNode(PortalStorage? storage = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(Options));
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        services.AddSingleton(TimeProvider.System);
        (storage ?? Database.Storage).AddTo(services);
        services.AddIdentityCore<PortalUser>(PortalServices.IdentityRules).AddEntityFrameworkStores<PortalDbContext>();
        services.AddSingleton<HostRegistry>();
        services.AddSingleton<PortalDatabase>();
        var node = services.BuildServiceProvider();
        _nodes.Add(node);
        return node;
    }
}
