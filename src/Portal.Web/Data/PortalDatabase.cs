using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Portal.Web.Hosts;

namespace Portal.Web.Data;

/// <summary>
/// Creates the database on first start, registers the local agent, and creates the first administrator with a one-time
/// password handed over in a 0600 file beside the database (<see cref="OneTimePasswordFile"/>; deploy/portal up shows it),
/// never on the console or in a log; that password must be changed at the first sign-in.
/// Registered before the fleet, so the fleet finds the hosts.
/// </summary>
public sealed class PortalDatabase(IServiceScopeFactory scopes, IOptions<PortalOptions> options, ILogger<PortalDatabase> logger) : IHostedService
{
    public const string AdminUser = "admin";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (Path.GetDirectoryName(Path.GetFullPath(settings.Database)) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        // The schema is the model (EnsureCreated); when it changes, EF migrations take over.
        if (await db.Database.EnsureCreatedAsync(cancellationToken))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(settings.Database, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            logger.LogInformation("Created the portal database at {Database}", settings.Database);
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
            var admin = new PortalUser { UserName = AdminUser, MustChangePassword = true };
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
