using System.Diagnostics;

namespace Portal.Guest.Tests;

/// <summary>
/// What the end-to-end tests boot: the kernel and initramfs from deploy/guest/build, a busybox image disk (erofs), a
/// sparse ext4 scratch disk, and QEMU under TCG (-M pc) with the guest channel on a unix socket. Everything lives in a
/// temp directory that <see cref="DisposeAsync"/> removes, after killing QEMU if it still runs.
/// </summary>
public sealed class GuestVm : IAsyncDisposable
{
    /// <summary>What the host's VM driver uses under TCG (QemuCommandLine.KernelParameters), without reboot=t.</summary>
    public const string KernelCommandLine = "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=noirq pci=nomsi";

    private Process? _qemu;

    public GuestVm()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"portal-guest-test-{Guid.NewGuid():N}"[..32]);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string SocketPath => Path.Combine(Directory, "guest.sock");

    public string SerialLog => Path.Combine(Directory, "serial.log");

    public string ImageDisk => Path.Combine(Directory, "image.erofs");

    public string ScratchDisk => Path.Combine(Directory, "scratch.ext4");

    public Stopwatch SinceStart { get; } = new();

    public Process Qemu => _qemu ?? throw new InvalidOperationException("not started");

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Portal.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Portal.sln not found above the test binaries");
        }
    }

    /// <summary>Runs deploy/guest/build (idempotent; PORTAL_GUEST_DIR overrides the default output directory).</summary>
    public static async Task<(string Kernel, string Initramfs, string Version)> BuildGuestAsync()
    {
        var outDir = Environment.GetEnvironmentVariable("PORTAL_GUEST_DIR") is { Length: > 0 } dir ? dir : "/var/cache/portal/guest";
        var output = await RunAsync(Path.Combine(RepositoryRoot, "deploy/guest/build"), outDir);
        string Field(string name) => output.Split('\n').Single(l => l.StartsWith(name + ": ", StringComparison.Ordinal))[(name.Length + 2)..].Trim();
        return (Field("kernel"), Field("initramfs"), Field("version"));
    }

    /// <summary>A rootfs of Debian's static busybox with its applets and a passwd/group with root and app (1000).</summary>
    public async Task CreateDisksAsync()
    {
        var rootfs = Path.Combine(Directory, "rootfs");
        foreach (var dir in new[] { "bin", "etc", "root", "tmp", "home/app" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(rootfs, dir));
        }

        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin/busybox"));
        var applets = await RunAsync("/bin/busybox", "--list");
        foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(a => a != "busybox"))
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        }

        await File.WriteAllTextAsync(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        await File.WriteAllTextAsync(Path.Combine(rootfs, "etc/group"), "root:x:0:\nwheel:x:10:app\napp:x:1000:\n");
        await RunAsync("mkfs.erofs", "--quiet", "--all-root", ImageDisk, rootfs);

        var scratch = Path.Combine(Directory, "scratch");
        System.IO.Directory.CreateDirectory(Path.Combine(scratch, "upper"));
        System.IO.Directory.CreateDirectory(Path.Combine(scratch, "work"));
        await RunAsync("mkfs.ext4", "-q", "-F", "-d", scratch, ScratchDisk, "256M");
    }

    public void Start(string kernel, string initramfs, string machine = "pc")
    {
        var args = new List<string>
        {
            "-M", machine, "-accel", "tcg", "-m", "256",
            "-nographic", "-nodefaults", "-no-user-config", "-no-reboot",
            "-kernel", kernel, "-initrd", initramfs, "-append", KernelCommandLine,
            "-serial", $"file:{SerialLog}",
            "-drive", $"file={ImageDisk},if=none,id=image,format=raw,readonly=on", "-device", "virtio-blk-pci,drive=image",
            "-drive", $"file={ScratchDisk},if=none,id=scratch,format=raw", "-device", "virtio-blk-pci,drive=scratch",
            "-device", "virtio-serial-pci",
            "-chardev", $"socket,id=guest,path={SocketPath},server=on,wait=off",
            "-device", "virtserialport,chardev=guest,name=org.portal.guest.0",
        };
        var start = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true };
        args.ForEach(start.ArgumentList.Add);
        SinceStart.Start();
        _qemu = Process.Start(start)!;
    }

    public string ReadSerialLog() => File.Exists(SerialLog) ? File.ReadAllText(SerialLog) : "";

    public async ValueTask DisposeAsync()
    {
        if (_qemu is { HasExited: false })
        {
            _qemu.Kill(entireProcessTree: true);
            await _qemu.WaitForExitAsync();
        }

        _qemu?.Dispose();
        if (File.Exists("/proc/mounts") && File.ReadAllText("/proc/mounts").Contains(Directory, StringComparison.Ordinal))
        {
            await RunAsync("umount", "-l", Path.Combine(Directory, "mnt"));
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}
