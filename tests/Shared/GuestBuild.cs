using System.Diagnostics;

namespace Portal.Tests.Shared;

/// <summary>
/// Where the tests find the guest kernel and initramfs (deploy/guest/build's output): PORTAL_GUEST_DIR, else the
/// machine-wide /var/cache/portal/guest. A checkout that changes the guest agent builds into its own directory and
/// points the tests there, so it never replaces the guest other checkouts' tests boot.
/// </summary>
public static class GuestBuild
{
    public const string DefaultDirectory = "/var/cache/portal/guest";

    public static string Directory =>
        Environment.GetEnvironmentVariable("PORTAL_GUEST_DIR") is { Length: > 0 } dir ? dir : DefaultDirectory;

    public static string Kernel => Path.Combine(Directory, "vmlinuz");

    public static string Initramfs => Path.Combine(Directory, "initramfs.img");

    /// <summary>
    /// Runs deploy/guest/build into <see cref="Directory"/> (about a second when nothing changed): the guest directory
    /// may be shared machine-wide, and a guest built from other sources (another checkout) may speak an older protocol
    /// than this one's host side.
    /// </summary>
    public static async Task EnsureBuiltAsync()
    {
        var repo = AppContext.BaseDirectory;
        while (repo is not null && !File.Exists(Path.Combine(repo, "deploy", "guest", "build")))
        {
            repo = Path.GetDirectoryName(repo);
        }

        if (repo is null && File.Exists(Kernel) && File.Exists(Initramfs))
        {
            return;
        }

        if (repo is null)
        {
            throw new InvalidOperationException($"The guest kernel and initramfs are missing from {Directory} and deploy/guest/build was not found: run deploy/guest/build.");
        }

        var start = new ProcessStartInfo(Path.Combine(repo, "deploy", "guest", "build")) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Directory);
        using var build = Process.Start(start)!;
        var error = build.StandardError.ReadToEndAsync();
        await build.StandardOutput.ReadToEndAsync();
        await build.WaitForExitAsync();
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"deploy/guest/build failed ({build.ExitCode}): {await error}");
        }
    }
}
