using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Portal.Web.Data;

namespace Portal.Web.Tests.Data;

/// <summary>The test classes that share one <see cref="PostgreSqlServer"/> per test run.</summary>
[CollectionDefinition(Name)]
public sealed class PostgreSqlCollection : ICollectionFixture<PostgreSqlServer>
{
    public const string Name = "PostgreSQL";
}

public sealed class PostgreSqlServerTests
{
    /// <summary>A sandbox sweep of another test process killed the server when its directory looked like a sandbox.</summary>
    [Fact]
    public void The_servers_directory_is_never_taken_for_a_test_sandbox() =>
        Assert.False(TestSandbox.IsSandboxName(PostgreSqlServer.DirectoryPrefix + "1a2b3c4d"));
}

/// <summary>
/// A real PostgreSQL server for the data tests (Debian's postgresql package, which ./deploy/portal test installs): its
/// own cluster in a temporary directory, run as the package's user postgres (initdb refuses root), listening on a free
/// loopback port and a unix socket in that directory, with a random password. Started at the first test that asks for
/// it (as root only: a skipped run starts nothing); stopped and removed when the run's tests end, pass or fail, and by
/// the next run if a killed run left it behind. Each test gets a database of its own, cloned from a migrated template.
/// </summary>
public sealed class PostgreSqlServer : IAsyncLifetime
{
    private const string User = "postgres";
    private const string Template = "portal_template";
    // Not "portal-...": a test sandbox sweep took "portal-pg-tests-1a2b3c4d" for an ownerless sandbox and killed the
    // server (its command line names the directory) in the middle of the run.
    public const string DirectoryPrefix = "pgtests-portal-";
    private const string Scratch = "/tmp";
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    private string? _root;
    private int _port;
    private bool _running;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_root is { } root)
        {
            await StopAsync(root);
        }
    }

    /// <summary>A new database for one test: the portal's schema already migrated, or empty.</summary>
    public async Task<TestDatabase> CreateDatabaseAsync(bool migrated = true)
    {
        await StartAsync();
        var name = $"portal_test_{Guid.NewGuid():N}"[..28];
        await ExecuteAsync($"CREATE DATABASE {name}" + (migrated ? $" TEMPLATE {Template}" : ""));
        return new ServerDatabase(this, name);
    }

    public string ConnectionString(string database, bool pooling = true) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = _port,
        Username = User,
        Password = _password,
        Database = database,
        Pooling = pooling,
    }.ConnectionString;

    private async Task StartAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_running)
            {
                return;
            }

            if (OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("The PostgreSQL tests run Debian's postgresql package.");
            }

            await RemoveLeftoversAsync();
            var bin = Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb")))
                    .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0).FirstOrDefault()
                : null;
            if (bin is null)
            {
                throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): ./deploy/portal test installs Debian's postgresql package, or apt-get install postgresql.");
            }

            // Under /tmp whatever TMPDIR says: user postgres must reach it, and the socket path must stay short.
            _root = Directory.CreateDirectory(Path.Combine(Scratch, DirectoryPrefix + Guid.NewGuid().ToString("N")[..8]), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;
            await File.WriteAllTextAsync(Path.Combine(_root, "owner"), Environment.ProcessId.ToString());
            await File.WriteAllTextAsync(Path.Combine(_root, "pwfile"), _password + "\n");
            await RunAsync("chown", "-R", $"{User}:", _root);
            await RunAsUserAsync(Path.Combine(bin, "initdb"), "-D", Path.Combine(_root, "data"), "-U", User, "--auth=scram-sha-256", $"--pwfile={Path.Combine(_root, "pwfile")}",
                "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions");
            _port = FreeTcpPort.Next();
            await RunAsUserAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(_root, "data"), "-l", Path.Combine(_root, "server.log"), "-w", "-t", "120",
                "-o", $"-p {_port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", "start");
            _running = true;

            // The template every test database is cloned from: the portal's migrations run once per test run. Unpooled,
            // since a database is cloned only while nobody is connected to its template.
            await ExecuteAsync($"CREATE DATABASE {Template}");
            var options = new DbContextOptionsBuilder<PostgreSqlPortalDbContext>().UseNpgsql(ConnectionString(Template, pooling: false)).Options;
            await using var db = new PostgreSqlPortalDbContext(options);
            await PortalMigrations.MigrateAsync(db, CancellationToken.None);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task StopAsync(string root)
    {
        if (File.Exists(Path.Combine(root, "data", "postmaster.pid")))
        {
            var pgCtl = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin", "pg_ctl")).First(File.Exists);
            try
            {
                await RunAsUserAsync(pgCtl, "-D", Path.Combine(root, "data"), "-m", "immediate", "-w", "stop");
            }
            catch (InvalidOperationException)
            {
                // No server behind a stale postmaster.pid (its run was killed with the machine): only files to remove.
            }
        }

        NpgsqlConnection.ClearAllPools();
        Directory.Delete(root, recursive: true);
        _running = false;
    }

    /// <summary>Clusters of test runs that were killed before they could stop theirs.</summary>
    private async Task RemoveLeftoversAsync()
    {
        foreach (var root in Directory.GetDirectories(Scratch, DirectoryPrefix + "*"))
        {
            var owner = Path.Combine(root, "owner");
            if (File.Exists(owner) && int.TryParse(File.ReadAllText(owner), out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                await StopAsync(root);
            }
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static Task RunAsUserAsync(string program, params string[] arguments) => RunAsync("runuser", ["-u", User, "--", program, .. arguments]);

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await output}{await error}");
        }
    }

    private sealed class ServerDatabase(PostgreSqlServer server, string name) : TestDatabase
    {
        public override PortalStorage Storage { get; } = new(DatabaseProvider.PostgreSQL, server.ConnectionString(name));

        public override string[] Arguments => ["--Portal:DatabaseProvider=PostgreSQL", $"--ConnectionStrings:Portal={Storage.ConnectionString}"];

        public override string[] MissingArguments => ["--Portal:DatabaseProvider=PostgreSQL", $"--ConnectionStrings:Portal={server.ConnectionString(name + "_missing")}"];

        public override async ValueTask DisposeAsync() => await server.ExecuteAsync($"DROP DATABASE {name} WITH (FORCE)");
    }
}
