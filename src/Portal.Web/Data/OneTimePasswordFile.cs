using System.Text;

namespace Portal.Web.Data;

/// <summary>
/// The first administrator's one-time password is handed over in a file beside the database that only the portal's user
/// may read (0600 from the moment it exists), never on the console or in a log: services and scripts collect those into
/// files others may read. `deploy/portal up` shows it on the terminal; the forced password change deletes it.
/// </summary>
public static class OneTimePasswordFile
{
    public const string FileName = "first-admin-password";

    public static string PathOf(PortalOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Database)) ?? ".", FileName);

    public static async Task WriteAsync(string path, string password, CancellationToken ct = default)
    {
        var directory = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(directory, $".{FileName}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(password + "\n"), ct);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>After the forced change the password in it no longer works: nothing stale stays behind.</summary>
    public static void Delete(PortalOptions options)
    {
        try
        {
            File.Delete(PathOf(options));
        }
        catch (IOException)
        {
        }
    }
}
