using Portal.Compute.Linux.Vm;

namespace Portal.Compute.Tests.Vm;

public sealed class QemuCommandLineTests
{
    private static readonly VmWorkerSpec Base = new()
    {
        ContainerId = "0123456789abcdef0123",
        ContainerName = "web",
        Accelerator = VmAccelerator.Tcg,
        MemoryMiB = 256,
        KernelPath = "/k/vmlinuz",
        InitramfsPath = "/k/initramfs.img",
        Uid = 1_900_000_042,
        JailDirectory = "/run/portal/vm/0123/jail",
    };

    private static readonly (string What, VmWorkerSpec Spec, string[] Expected)[] Table =
    [
        ("named for ps as vmwp-<id12>", Base, ["-name", "web,process=vmwp-0123456789ab"]),
        ("a comma in the name is escaped", Base with { ContainerName = "a,b" }, ["-name", "a,,b,process=vmwp-0123456789ab"]),
        ("tcg with a sized translation cache", Base with { TcgTranslationCacheMiB = 48 }, ["-accel", "tcg,tb-size=48"]),
        ("kvm with the host cpu", Base with { Accelerator = VmAccelerator.Kvm }, ["-accel", "kvm", "-cpu", "host"]),
        ("guest ram from the limit", Base with { MemoryMiB = 512 }, ["-m", "512M"]),
        ("cpus", Base with { Cpus = 2 }, ["-smp", "2"]),
        ("seccomp sandbox (set*id allowed: QEMU drops privileges after installing it)", Base, ["-sandbox", "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"]),
        ("chrooted into the empty jail and dropped to the worker's account before the guest runs", Base, ["-chroot", "/run/portal/vm/0123/jail", "-runas", "1900000042:1900000042"]),
        ("no defaults, no config, no display, exit on reboot", Base, ["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]),
        ("serial console on stdout", Base, ["-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"]),
        ("kernel parameters under tcg", Base, ["-append", "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests acpi=noirq pci=nomsi"]),
        ("kernel parameters under kvm keep msi", Base with { Accelerator = VmAccelerator.Kvm }, ["-append", "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests"]),
        ("extra kernel parameters", Base with { KernelParameters = " loglevel=0 " }, ["-append", "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests acpi=noirq pci=nomsi loglevel=0"]),
        ("image disk first, read-only, from fd 4", Base, ["-add-fd", "fd=4,set=1", "-drive", "file=/dev/fdset/1,format=raw,if=none,id=image,readonly=on", "-device", "virtio-blk-pci,drive=image"]),
        ("scratch disk second, from fds 5 and 6", Base, ["-add-fd", "fd=5,set=2", "-add-fd", "fd=6,set=2", "-drive", "file=/dev/fdset/2,format=raw,if=none,id=scratch,discard=unmap", "-device", "virtio-blk-pci,drive=scratch"]),
        ("free page reporting", Base, ["-device", "virtio-balloon-pci,free-page-reporting=on"]),
        ("guest channel port on the passed socket", Base, ["-chardev", "socket,id=guest,fd=3,server=on,wait=off", "-device", "virtserialport,chardev=guest,name=org.portal.guest.0"]),
    ];

    public static TheoryData<int, string> Cases()
    {
        var data = new TheoryData<int, string>();
        for (var i = 0; i < Table.Length; i++)
        {
            data.Add(i, Table[i].What);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Contains(int row, string what)
    {
        var (_, spec, expected) = Table[row];
        var args = QemuCommandLine.Build(spec);
        Assert.True(IndexOf(args, expected) >= 0, $"{what}: expected [{string.Join(' ', expected)}] in [{string.Join(' ', args)}]");
    }

    [Fact]
    public void The_image_disk_comes_before_the_scratch_disk_and_nothing_is_opened_by_path_but_kernel_and_initramfs()
    {
        var args = QemuCommandLine.Build(Base);
        Assert.True(IndexOf(args, ["-device", "virtio-blk-pci,drive=image"]) < IndexOf(args, ["-device", "virtio-blk-pci,drive=scratch"]));
        Assert.DoesNotContain(args, a => a.Contains("path=", StringComparison.Ordinal) || a == "-daemonize");
        Assert.DoesNotContain(args, a => a.StartsWith("tcg", StringComparison.Ordinal) && Base.Accelerator == VmAccelerator.Kvm);
    }

    [Fact]
    public void Worker_uids_are_per_container_in_a_high_range()
    {
        Assert.Equal(1_900_000_000u + 0x012345u, VmWorker.UidFor("0123456789", 1_900_000_000));
        Assert.Equal(1_900_000_000u + 0xffffffu, VmWorker.UidFor("ffffff00", 1_900_000_000));
        Assert.NotEqual(VmWorker.UidFor("aaaaaa", 1_900_000_000), VmWorker.UidFor("aaaaab", 1_900_000_000));
    }

    private static int IndexOf(IReadOnlyList<string> args, string[] sequence)
    {
        for (var i = 0; i + sequence.Length <= args.Count; i++)
        {
            if (sequence.Select((s, j) => args[i + j] == s).All(b => b))
            {
                return i;
            }
        }

        return -1;
    }
}
