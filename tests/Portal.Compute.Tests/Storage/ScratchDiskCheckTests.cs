using System.Diagnostics;
using System.Security.Cryptography;
using Portal.Compute.Storage;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Storage;

/// <summary>
/// The check before the host mounts a scratch disk a guest wrote: real e2fsck in its confined helper on real ext4 disks
/// (a fresh one, one whose root inode a "guest" cleared, one whose journal needs replaying, one that is not ext4). Needs root.
/// </summary>
[Trait("Requires", "root")]
public sealed class ScratchDiskCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-fsck-").FullName;

    [RootFact]
    public async Task A_clean_disk_passes_and_damaged_ones_are_refused_unchanged_with_the_reason_as_root()
    {
        var disks = new ScratchDisk(Path.Combine(_dir, "cache"), 64L << 20);
        var clean = Path.Combine(_dir, "clean.ext4");
        await disks.CreateAsync(clean, CancellationToken.None);
        Assert.Null(await disks.HostMountProblemAsync(clean, CancellationToken.None));

        var corrupt = Copy(clean, "corrupt.ext4");
        await DebugFsAsync(corrupt, "clri <2>"); // a guest clears the root inode
        var hash = Hash(corrupt);
        var problem = await disks.HostMountProblemAsync(corrupt, CancellationToken.None);
        Assert.NotNull(problem);
        Assert.StartsWith("e2fsck -n found problems (exit code", problem);
        Assert.Contains("Root inode is not a directory", problem);
        Assert.Equal(hash, Hash(corrupt)); // read-only: the disk is as it was

        var recovery = Copy(clean, "recovery.ext4");
        await DebugFsAsync(recovery, "feature needs_recovery");
        Assert.Contains("journal still needs replaying", await disks.HostMountProblemAsync(recovery, CancellationToken.None));

        var zeros = Path.Combine(_dir, "zeros.ext4");
        File.WriteAllBytes(zeros, new byte[1 << 20]);
        Assert.Contains("not an ext4 filesystem", await disks.HostMountProblemAsync(zeros, CancellationToken.None));

        // The helper's private root was only ever mounted in its own mount namespace, and its mount point is gone.
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(_dir, StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(_dir, "cache"), "fsck-*"));
    }

    [RootFact]
    public async Task The_helper_has_no_capabilities_no_writable_file_and_only_usr_and_the_disk_in_view_as_root()
    {
        // The same confinement as the check, with a probe in e2fsck's place: what could a compromised e2fsck reach?
        var disk = Path.Combine(_dir, "probe.ext4");
        File.WriteAllText(disk, "disk-content");
        var jail = Path.Combine(_dir, "jail");
        Directory.CreateDirectory(jail);
        const string Probe = "setpriv -d; echo ROOT; ls /; echo END; cat /disk; echo; cat /etc/shadow; touch /usr/x; touch /x; echo x > /disk; true";
        var result = await Portal.Compute.Linux.HostCommand.RunAsync("unshare", ScratchDiskCheck.HelperArguments(ScratchDiskCheck.ConfinedScript("sh -c \"$3\""), jail, disk, Probe));
        Directory.Delete(jail);
        var output = result.Output + result.Error;
        Assert.True(result.ExitCode == 0, output);
        Assert.Contains("Inheritable capabilities: [none]", output); // with an empty bounding set, exec leaves uid 0 no permitted or effective capability
        Assert.Contains("Capability bounding set: [none]", output);
        Assert.Contains("no_new_privs: 1", output);
        var root = result.Output.Split('\n').SkipWhile(l => l != "ROOT").Skip(1).TakeWhile(l => l != "END").ToList();
        Assert.Subset(new HashSet<string> { "bin", "dev", "disk", "lib", "lib32", "lib64", "libx32", "sbin", "usr" }, root.ToHashSet());
        Assert.Contains("disk-content", output);
        Assert.Contains("/etc/shadow: No such file", output);
        Assert.Contains("'/usr/x': Read-only file system", output);
        Assert.Contains("'/x': Read-only file system", output);
        Assert.Contains("cannot create /disk: Read-only file system", output);
        Assert.Equal("disk-content", File.ReadAllText(disk));
        Assert.Contains("--net", ScratchDiskCheck.HelperArguments("", jail, disk)); // no network: an empty network namespace
    }

    private string Copy(string source, string name)
    {
        var path = Path.Combine(_dir, name);
        File.Copy(source, path);
        return path;
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static async Task DebugFsAsync(string disk, string request)
    {
        using var debugfs = Process.Start(new ProcessStartInfo("debugfs", ["-w", "-R", request, disk]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await debugfs.StandardOutput.ReadToEndAsync();
        await debugfs.StandardError.ReadToEndAsync();
        await debugfs.WaitForExitAsync();
        Assert.Equal(0, debugfs.ExitCode);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
