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
}
