using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Portal.Web.Hosts;

namespace Portal.Web.Data;

/// <summary>
/// Brings the database up to date at start (EF Core migrations, <see cref="PortalMigrations"/>; a new one is made, one
/// made before migrations is baselined), registers the local agent in a new database, and creates the first
/// administrator with a one-time password handed over in a 0600 file beside <see cref="PortalOptions.Database"/>
/// (<see cref="OneTimePasswordFile"/>; deploy/portal up shows it), never on the console or in a log; that password must
/// be changed at the first sign-in. Starts on one database (nodes on one PostgreSQL) do this one at a time.
/// Registered before the fleet, so the fleet finds the hosts.
/// </summary>
public sealed class PortalDatabase(IServiceScopeFactory scopes, PortalStorage storage, IOptions<PortalOptions> options, ILogger<PortalDatabase> logger) : IHostedService
{
    public const string AdminUser = "admin";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await PrepareAsync(cancellationToken);
        }
        catch (DbException e)
        {
            // The provider's words (a refused connection, a wrong password) with where and what to check; never the connection string.
            throw new InvalidOperationException(
                $"The portal database ({storage.Describe()}) could not be opened or brought up to date: {e.Message} Check Portal:DatabaseProvider and ConnectionStrings:Portal (or Portal:Database), and that the server is up.", e);
        }
    }

    private async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (storage.SqliteFile is { } sqliteFile)
        {
            CreateSqliteFile(sqliteFile);
        }

        await using var startLock = await PortalMigrations.LockAsync(storage, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        if (await PortalMigrations.RemoveStaleSqliteMigrationLockAsync(db, cancellationToken))
        {
            logger.LogWarning("Removed a stale migration lock from the portal database ({Database}): a start was stopped while migrating it", storage.Describe());
        }

        var outcome = await PortalMigrations.MigrateAsync(db, cancellationToken);
        if (outcome.Baselined is { } baseline)
        {
            logger.LogInformation("The portal database ({Database}) was made before migrations: its data is kept and {Migration} is marked applied", storage.Describe(), baseline);
        }

        if (outcome.Applied.Count > 0)
        {
            logger.LogInformation("Applied the migrations {Migrations} to the portal database ({Database})", string.Join(", ", outcome.Applied), storage.Describe());
        }

        if (outcome.Created)
        {
            logger.LogInformation("Created the portal database ({Database})", storage.Describe());
            if (!string.IsNullOrWhiteSpace(settings.LocalAgentSocket))
            {
                var registry = scope.ServiceProvider.GetRequiredService<HostRegistry>();
                await registry.AddAsync("local", $"unix://{settings.LocalAgentSocket}", null, cancellationToken);
                logger.LogInformation("Registered the local agent at unix://{Socket} as host 'local'", settings.LocalAgentSocket);
            }
        }

        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        if (!await users.Users.AnyAsync(cancellationToken))
        {
            var password = OneTimePassword();
            var admin = new PortalUser { UserName = AdminUser, MustChangePassword = true, IsAdministrator = true };
            var result = await users.CreateAsync(admin, password);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"Could not create the first administrator: {string.Join(" ", result.Errors.Select(e => e.Description))}");
            }

            // In a file only the portal's user may read, never on the console or in a log: it is a secret.
            var file = OneTimePasswordFile.PathOf(settings);
            await OneTimePasswordFile.WriteAsync(file, password, cancellationToken);
            logger.LogInformation("Created the first administrator '{User}'; the one-time password is in {File} (readable by this user only), to be changed at the first sign-in", AdminUser, file);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A new SQLite file is made empty with mode 0600 before SQLite opens it: users' password hashes are never readable by others.</summary>
    private static void CreateSqliteFile(string file)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        if (File.Exists(file))
        {
            return;
        }

        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var _ = new FileStream(file, create);
        }
        catch (IOException) when (File.Exists(file))
        {
            // Made meanwhile by another start on the same file.
        }
    }

    /// <summary>Random letters and digits plus one of each class Identity's password rules ask for.</summary>
    internal static string OneTimePassword()
    {
        const string lower = "abcdefghjkmnpqrstuvwxyz";
        const string upper = "ABCDEFGHJKLMNPQRSTUVWXYZ";
        const string digits = "23456789";
        var body = RandomNumberGenerator.GetString(lower + upper + digits, 12);
        return $"{body[..6]}-{body[6..]}-{RandomNumberGenerator.GetString(lower, 1)}{RandomNumberGenerator.GetString(upper, 1)}{RandomNumberGenerator.GetString(digits, 1)}";
    }
}
