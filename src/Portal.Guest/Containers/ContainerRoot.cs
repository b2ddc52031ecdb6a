using System.Text;
using Portal.Contracts.Guest;
using Portal.Guest.Boot;
using Portal.Shared.Native;

namespace Portal.Guest.Containers;

/// <summary>
/// The container's root: the image disk (erofs, read-only) under an overlay whose upper layer lives on the scratch disk,
/// with /proc, /sys, a minimal /dev, devpts and /dev/shm inside, and /etc/hostname and /etc/hosts bound from the agent's
/// run directory. The agent then chroots itself into it, so its processes (and the agent's own view of /proc, /dev/ptmx
/// and /etc/passwd) are the container's, while the initramfs stays out of sight; an fd to the initramfs root is the way
/// back at shutdown to unmount everything cleanly.
/// </summary>
internal sealed class ContainerRoot
{
    private const string ImageMount = "/mnt/image";
    private const string ScratchMount = "/mnt/scratch";
    private const string RootMount = "/mnt/root";
    private const string RunDirectory = "/run/portal";

    private readonly List<string> _mounts = [];
    private int _initramfsRoot = -1;

    public bool IsEntered => _initramfsRoot >= 0;

    public static async Task WaitForDeviceAsync(string device, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!File.Exists(device))
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new GuestException($"device {device} did not appear within {timeout.TotalSeconds:F0} s (is the disk attached as virtio-blk?)");
            }

            await Task.Delay(5).ConfigureAwait(false);
        }
    }

    public void Enter(StartContainerRequest request)
    {
        if (IsEntered)
        {
            throw new GuestException("the container is already started");
        }

        try
        {
            Directory.CreateDirectory(ImageMount);
            Directory.CreateDirectory(ScratchMount);
            Directory.CreateDirectory(RootMount);
            MountImage(request.ImageDevice);
            Mount(request.ScratchDevice, ScratchMount, "ext4", 0, null, "scratch disk");
            Directory.CreateDirectory($"{ScratchMount}/upper");
            Directory.CreateDirectory($"{ScratchMount}/work");
            Mount("overlay", RootMount, "overlay", 0, $"lowerdir={ImageMount},upperdir={ScratchMount}/upper,workdir={ScratchMount}/work", "container root");
            MountSystem(request.Hostname, request.Hosts);

            _initramfsRoot = Libc.open("/", Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            if (_initramfsRoot < 0 || Libc.chdir(RootMount) != 0 || Libc.chroot(".") != 0 || Libc.chdir("/") != 0)
            {
                throw new GuestException($"enter the container root: {Libc.ErrorText(Libc.LastError)}");
            }

            SetHostname(request.Hostname);
        }
        catch
        {
            Leave();
            throw;
        }
    }

    /// <summary>Back to the initramfs root and unmount everything (processes must be gone); safe to call twice.</summary>
    public void Leave()
    {
        if (_initramfsRoot >= 0)
        {
            if (Libc.fchdir(_initramfsRoot) != 0 || Libc.chroot(".") != 0)
            {
                GuestLog.Error($"leave the container root: {Libc.ErrorText(Libc.LastError)}");
            }

            Libc.chdir("/");
            Libc.close(_initramfsRoot);
            _initramfsRoot = -1;
        }

        for (var i = _mounts.Count - 1; i >= 0; i--)
        {
            if (Libc.umount2(_mounts[i], 0) != 0)
            {
                var errno = Libc.LastError;
                GuestLog.Error($"unmount {_mounts[i]}: {Libc.ErrorText(errno)}; detaching it");
                Libc.umount2(_mounts[i], Libc.MNT_DETACH);
            }
        }

        _mounts.Clear();
        Libc.sync();
    }

    private void MountImage(string device)
    {
        // Images are erofs; an ext4 image disk works too.
        if (Libc.mount(device, ImageMount, "erofs", Libc.MS_RDONLY, null) == 0)
        {
            _mounts.Add(ImageMount);
            return;
        }

        var erofsError = Libc.LastError;
        if (Libc.mount(device, ImageMount, "ext4", Libc.MS_RDONLY, "noload") == 0)
        {
            _mounts.Add(ImageMount);
            return;
        }

        throw new GuestException($"mount image disk {device} (erofs) on {ImageMount}: {Libc.ErrorText(erofsError)}");
    }

    /// <summary>Rewrites /etc/hosts in place (it is a bind mount of the agent's file, seen from inside the container root).</summary>
    public void UpdateHosts(string hosts)
    {
        if (!IsEntered)
        {
            throw new GuestException("the container is not started");
        }

        File.WriteAllText("/etc/hosts", hosts);
    }

    private void MountSystem(string hostname, string? hosts)
    {
        const ulong Safe = Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC;
        var root = RootMount;
        foreach (var dir in new[] { "proc", "sys", "dev", "tmp", "etc" })
        {
            EnsureDirectory($"{root}/{dir}", dir == "tmp" ? (UnixFileMode)0b1_111_111_111 : (UnixFileMode)0b111_101_101);
        }

        Mount("proc", $"{root}/proc", "proc", Safe, null, "/proc");
        Mount("sysfs", $"{root}/sys", "sysfs", Safe | Libc.MS_RDONLY, null, "/sys");
        Mount("tmpfs", $"{root}/dev", "tmpfs", Libc.MS_NOSUID, "mode=755,size=65536k", "/dev");
        foreach (var (name, major, minor) in new[] { ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0) })
        {
            var path = $"{root}/dev/{name}";
            if (Libc.mknod(path, 0x2000 | 0b110_110_110, (ulong)((major << 8) | minor)) != 0)
            {
                throw new GuestException($"create {path}: {Libc.ErrorText(Libc.LastError)}");
            }

            File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
        }

        foreach (var (link, target) in new[] { ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx") })
        {
            File.CreateSymbolicLink($"{root}/dev/{link}", target);
        }

        Directory.CreateDirectory($"{root}/dev/pts");
        Directory.CreateDirectory($"{root}/dev/shm");
        Mount("devpts", $"{root}/dev/pts", "devpts", Libc.MS_NOSUID | Libc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", "/dev/pts");
        Mount("shm", $"{root}/dev/shm", "tmpfs", Safe, "mode=1777,size=65536k", "/dev/shm");

        // Like docker: the container sees its hostname in /etc/hostname and /etc/hosts without them landing on its disk.
        Directory.CreateDirectory(RunDirectory);
        File.WriteAllText($"{RunDirectory}/hostname", hostname + "\n");
        File.WriteAllText($"{RunDirectory}/hosts", hosts ?? $"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n");
        BindFile($"{RunDirectory}/hostname", $"{root}/etc/hostname");
        BindFile($"{RunDirectory}/hosts", $"{root}/etc/hosts");
    }

    private void BindFile(string source, string target)
    {
        // A symlink would resolve against the initramfs root here: replace it (and a missing file) with a file to cover.
        var info = new FileInfo(target);
        if (info.LinkTarget is not null)
        {
            File.Delete(target);
            File.WriteAllText(target, "");
        }
        else if (!info.Exists)
        {
            File.WriteAllText(target, "");
        }

        Mount(source, target, null, Libc.MS_BIND, null, target);
    }

    private static void EnsureDirectory(string path, UnixFileMode mode)
    {
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, mode);
        }
    }

    private void Mount(string source, string target, string? type, ulong flags, string? data, string what)
    {
        if (Libc.mount(source, target, type, flags, data) != 0)
        {
            throw new GuestException($"mount {what} ({type ?? "bind"} {source} on {target}): {Libc.ErrorText(Libc.LastError)}");
        }

        _mounts.Add(target);
    }

    private static void SetHostname(string hostname)
    {
        var bytes = Encoding.UTF8.GetBytes(hostname);
        unsafe
        {
            fixed (byte* p = bytes)
            {
                if (Libc.sethostname(p, (nuint)bytes.Length) != 0)
                {
                    throw new GuestException($"set hostname {hostname}: {Libc.ErrorText(Libc.LastError)}");
                }
            }
        }
    }
}
