using System.IO.Compression;
using System.Text;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// A trivial initramfs (newc cpio, gzip): busybox-static as /bin/busybox and an /init that prints a marker and
/// reboots (with -no-reboot QEMU then exits). Boots the accelerator probe and the benchmark's raw-boot baseline.
/// </summary>
internal static class ProbeInitramfs
{
    public const string Marker = "PORTAL-GUEST-BOOTED";

    public static void Write(string path, string busyboxPath)
    {
        var init = $"#!/bin/busybox sh\n/bin/busybox echo {Marker}\n/bin/busybox reboot -f\n";
        var temp = path + ".tmp";
        using (var file = File.Create(temp))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            var ino = 1;
            Entry(gzip, ref ino, "bin", 0x41ED, []);
            Entry(gzip, ref ino, "bin/busybox", 0x81ED, File.ReadAllBytes(busyboxPath));
            Entry(gzip, ref ino, "init", 0x81ED, Encoding.ASCII.GetBytes(init));
            Entry(gzip, ref ino, "TRAILER!!!", 0, []);
        }

        File.Move(temp, path, overwrite: true);
    }

    private static void Entry(Stream output, ref int ino, string name, int mode, byte[] data)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        var fields = new[] { ino++, mode, 0, 0, 1, 0, data.Length, 0, 0, 0, 0, nameBytes.Length, 0 };
        var header = "070701" + string.Concat(fields.Select(f => f.ToString("X8", System.Globalization.CultureInfo.InvariantCulture)));
        var written = header.Length + nameBytes.Length;
        output.Write(Encoding.ASCII.GetBytes(header));
        output.Write(nameBytes);
        output.Write(new byte[Pad(written)]);
        output.Write(data);
        output.Write(new byte[Pad(data.Length)]);
    }

    private static int Pad(int length) => (4 - (length % 4)) % 4;
}
