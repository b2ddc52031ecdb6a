using System.Data.Common;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Storage;
using Portal.Web.Data;

namespace Portal.Web.Account;

/// <summary>
/// The portal's command-line modes for root on the host, on the same configuration, database and Identity code as the
/// portal itself (`./deploy/portal reset-password admin`). Both work while the portal runs.
/// <c>reset-password &lt;user&gt;</c> sets a new one-time password, prints it on the terminal only (never a log), enables
/// the user again and ends its sessions; the user must change it at the next sign-in.
/// <c>disable-user &lt;user&gt;</c> disables the user: its open pages leave within <see cref="PortalOptions.UserRevalidationInterval"/>
/// and it cannot sign in until a reset-password.
/// <c>add-user &lt;user&gt; [--admin]</c> makes a user with a one-time password (printed like reset-password's);
/// <c>set-admin &lt;user&gt; yes|no</c> makes a user a portal administrator or takes it away (its sessions end).
/// </summary>
public static class AccountCommands
{
    public const string ResetPassword = "reset-password";
    public const string DisableUser = "disable-user";
    public const string AddUser = "add-user";
    public const string SetAdmin = "set-admin";

    public static bool IsCommand(string[] args) => args.Length > 0 && args[0] is ResetPassword or DisableUser or AddUser or SetAdmin;

    /// <summary>Runs the command in <paramref name="args"/>; further arguments (--Portal:Database=...) configure as for the portal.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (!IsCommand(args) || args.Length < 2 || args[1].StartsWith("--", StringComparison.Ordinal) || string.IsNullOrWhiteSpace(args[1]))
        {
            await error.WriteLineAsync($"usage: {ResetPassword} <user> | {DisableUser} <user> | {AddUser} <user> [--admin] | {SetAdmin} <user> yes|no   (for example: {ResetPassword} {PortalDatabase.AdminUser})");
            return 2;
        }

        var (command, userName) = (args[0], args[1].Trim());
        var rest = args[2..];
        var flag = false;
        if (command == AddUser && rest.Length > 0 && rest[0] == "--admin")
        {
            (flag, rest) = (true, rest[1..]);
        }
        else if (command == SetAdmin)
        {
            if (rest.Length == 0 || rest[0] is not ("yes" or "no"))
            {
                await error.WriteLineAsync($"usage: {SetAdmin} <user> yes|no   (yes makes the user a portal administrator, no takes it away)");
                return 2;
            }

            (flag, rest) = (rest[0] == "yes", rest[1..]);
        }

        var builder = WebApplication.CreateBuilder(rest);
        // Only warnings and errors: nothing of this run needs a log, and the password is never logged.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddPortalServices();
        await using var app = builder.Build();
        await using var scope = app.Services.CreateAsyncScope();
        var storage = app.Services.GetRequiredService<PortalStorage>();
        bool exists;
        try
        {
            exists = await ExistsAsync(storage, scope.ServiceProvider.GetRequiredService<PortalDbContext>());
        }
        catch (DbException e)
        {
            await error.WriteLineAsync($"Cannot reach the portal's database ({storage.Describe()}): {e.Message}");
            return 1;
        }

        if (!exists)
        {
            await error.WriteLineAsync($"The portal's database ({storage.Describe()}) does not exist: start the portal once (./deploy/portal up), which creates it and user '{PortalDatabase.AdminUser}'.");
            return 1;
        }

        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        try
        {
            if (command == DisableUser)
            {
                var user = await users.FindByNameAsync(userName) ?? throw UserAccounts.NoSuchUser(userName);
                await UserAccounts.DisableAsync(users, user);
                await output.WriteLineAsync($"User '{userName}' is disabled: its open pages leave within seconds and it cannot sign in (enable it again with {ResetPassword}).");
                return 0;
            }

            if (command == SetAdmin)
            {
                await UserAccounts.SetAdministratorAsync(users, userName, flag);
                await output.WriteLineAsync($"User '{userName}' is {(flag ? "now an administrator" : "no longer an administrator")}; its open sessions end.");
                return 0;
            }

            if (command == AddUser)
            {
                var first = await UserAccounts.CreateAsync(users, userName, flag);
                await output.WriteLineAsync($"""
                    User '{userName}'{(flag ? " (administrator)" : "")}: one-time password {first}
                    (it must choose its own password at the first sign-in; add it to teams on the Teams page)
                    """);
                return 0;
            }

            var password = await UserAccounts.ResetPasswordAsync(users, userName);
            await output.WriteLineAsync($"""
                User '{userName}': new one-time password {password}
                (enabled again; its open sessions end; it must choose its own password at the next sign-in)
                """);
            return 0;
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync(e.Message);
            return 1;
        }
    }

    /// <summary>The file (made by any version of the portal), or the server's database with the portal's migration history.</summary>
    private static async Task<bool> ExistsAsync(PortalStorage storage, PortalDbContext db)
    {
        if (storage.SqliteFile is { } file)
        {
            return File.Exists(file);
        }

        return await db.GetService<IRelationalDatabaseCreator>().ExistsAsync() && await db.GetService<IHistoryRepository>().ExistsAsync();
    }
}
