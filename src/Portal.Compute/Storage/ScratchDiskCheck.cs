using System.Buffers.Binary;
using Portal.Compute.Linux;

namespace Portal.Compute.Storage;

/// <summary>
/// Checks a scratch disk a guest wrote before the host kernel mounts it (converting a VM-isolated container to process
/// isolation). The guest controls every byte of that ext4, and the host kernel's ext4 driver is not written to parse
/// hostile metadata; e2fsck is (it is fuzzed for exactly that), and it runs in userspace. So e2fsck checks it read-only
/// (<c>-n -f</c>) in a confined helper, and a disk that does not pass, or whose journal still needs replaying (the kernel
/// would replay guest-written journal blocks the read-only check never looked at), is refused.
/// </summary>
/// <remarks>
/// The helper: new mount, network, IPC, UTS and pid namespaces (unshare); a read-only tmpfs root holding only
/// read-only binds of /usr (programs and libraries), /dev/null and the disk itself; chrooted there; no capabilities
/// (empty bounding set, no_new_privs); killed after <see cref="Timeout"/>. It stays uid 0 so it can read the root-only
/// disk without CAP_DAC_READ_SEARCH (which would allow open_by_handle_at to any host file); with nothing writable and
/// nothing secret in its root, uid 0 without capabilities owns nothing it can reach.
/// </remarks>
internal static class ScratchDiskCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>EXT3_FEATURE_INCOMPAT_RECOVER: the journal holds transactions the next mount would replay.</summary>
    private const uint IncompatRecover = 0x4;

    /// <summary>
    /// The helper's shell script (run as root in fresh namespaces): builds the private read-only root at $1 with the
    /// disk $2 at /disk, then runs <paramref name="command"/> there without capabilities.
    /// </summary>
    internal static string ConfinedScript(string command) => $$"""
        set -e
        jail="$1"; disk="$2"
        mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev portal-fsck "$jail"
        for d in usr bin sbin lib lib32 lib64 libx32; do
          if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$jail/$d"
          elif [ -d "/$d" ]; then mkdir "$jail/$d"; mount -o bind,ro,nosuid,nodev "/$d" "$jail/$d"; fi
        done
        mkdir "$jail/dev"; : > "$jail/dev/null"; mount -o bind /dev/null "$jail/dev/null"
        : > "$jail/disk"; mount -o bind,ro,nosuid,nodev,noexec "$disk" "$jail/disk"
        mount -o remount,ro,bind "$jail"
        exec chroot "$jail" setpriv --inh-caps=-all --bounding-set=-all --no-new-privs -- {{command}}
        """;

    /// <summary>unshare's arguments: new mount, network, IPC, UTS and pid namespaces, then the script with its arguments.</summary>
    internal static IReadOnlyList<string> HelperArguments(string script, string jail, string disk, params string[] extra) =>
        ["--mount", "--net", "--ipc", "--uts", "--pid", "--fork", "--kill-child", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", jail, disk, .. extra];

    /// <summary>Null when the disk may be mounted by the host; otherwise what is wrong with it (for the caller's message).</summary>
    public static async Task<string?> ProblemAsync(string diskPath, string workDirectory, CancellationToken ct)
    {
        if (NeedsRecovery(diskPath) is { } recovery)
        {
            return recovery;
        }

        // The mount point of the helper's private root: only ever mounted on inside the helper's own mount namespace.
        var jail = Path.Combine(workDirectory, "fsck-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(jail);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Timeout);
            HostCommand.Result result;
            try
            {
                result = await HostCommand.RunAsync(
                    "unshare",
                    HelperArguments(ConfinedScript("e2fsck -n -f /disk"), jail, diskPath),
                    timeout.Token,
                    environment: new Dictionary<string, string> { ["EXT2FS_NO_MTAB_OK"] = "1", ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" }).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return $"e2fsck did not finish within {Timeout.TotalMinutes:0} minutes";
            }

            // 0: clean. 1 or 2 would mean e2fsck changed something, which -n never does; anything else is a problem.
            return result.ExitCode == 0 ? null : $"e2fsck -n found problems (exit code {result.ExitCode}): {Summary(result.Output + result.Error)}";
        }
        finally
        {
            Directory.Delete(jail);
        }
    }

    /// <summary>Reads the one flag the read-only check cannot judge, from the superblock (1024 bytes in; s_feature_incompat at 0x60).</summary>
    private static string? NeedsRecovery(string diskPath)
    {
        Span<byte> superblock = stackalloc byte[1024];
        using var file = File.OpenHandle(diskPath, FileMode.Open, FileAccess.Read);
        if (RandomAccess.Read(file, superblock, 1024) < 1024 || BinaryPrimitives.ReadUInt16LittleEndian(superblock[0x38..]) != 0xEF53)
        {
            return "it is not an ext4 filesystem (no ext4 superblock)";
        }

        return (BinaryPrimitives.ReadUInt32LittleEndian(superblock[0x60..]) & IncompatRecover) != 0
            ? "its journal still needs replaying (the VM did not shut down cleanly), and replaying would write guest-chosen blocks unchecked"
            : null;
    }

    /// <summary>e2fsck's findings, shortened for an error message: the lines that name a problem, at most five.</summary>
    private static string Summary(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("e2fsck ", StringComparison.Ordinal) && !l.StartsWith("Pass ", StringComparison.Ordinal))
            .Select(l => l.Length > 160 ? l[..160] + "..." : l)
            .ToList();
        return lines.Count == 0 ? "no details" : string.Join(" / ", lines.Take(5)) + (lines.Count > 5 ? $" / ({lines.Count - 5} more lines)" : "");
    }
}
