using System.Diagnostics;
using Portal.Compute.Images;
using Xunit.Abstractions;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// Mutated valid archives (a fixed seed, a bounded time): every import either succeeds or is refused with
/// ImageRejected; no other exception escapes, no import allocates without bound, nothing is left in the store.
/// </summary>
[Collection(ProcessMeasuring.Name)]
public sealed class ArchiveFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 13_2026;
    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(20);
    private const int MaxIterations = 400;
    private const long AllocationBoundPerImport = 128L << 20;

    [Fact]
    public async Task MutatedArchives_AreImportedOrRejected_NeverAnythingElse()
    {
        var random = new Random(Seed);
        using var sandbox = new ImageStoreSandbox(maxBytes: 64L << 20, maxEntries: 10_000);
        var seeds = Seeds();
        var watch = Stopwatch.StartNew();
        int iterations = 0, imported = 0, rejected = 0;
        var failures = new List<string>();
        while (iterations < MaxIterations && watch.Elapsed < TimeBudget)
        {
            iterations++;
            var (name, valid) = seeds[random.Next(seeds.Count)];
            var mutation = Mutate(random, valid, out var how);
            var file = sandbox.WriteFile($"fuzz/{iterations}.bin", mutation);
            var before = GC.GetTotalAllocatedBytes(precise: true);
            try
            {
                var records = await sandbox.Store.ImportAsync(file, null, null, CancellationToken.None);
                imported++;
                foreach (var record in records)
                {
                    await sandbox.Store.RemoveAsync(record.Id, CancellationToken.None);
                }
            }
            catch (ComputeException ex) when (ex.Code == ComputeErrorCode.ImageRejected)
            {
                rejected++;
            }
            catch (Exception ex)
            {
                failures.Add($"#{iterations} {name} ({how}): {ex.GetType().Name}: {ex.Message}");
            }

            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            if (allocated > AllocationBoundPerImport)
            {
                failures.Add($"#{iterations} {name} ({how}): allocated {allocated} bytes");
            }

            File.Delete(file);

            // An archive that is refused leaves nothing behind, not even the images before the broken one.
            if (sandbox.StoreLeftovers() is { Count: > 0 } left)
            {
                failures.Add($"#{iterations} {name} ({how}): left {string.Join(", ", left)} in the store");
                break;
            }
        }

        output.WriteLine($"seed {Seed}: {iterations} archives in {watch.ElapsedMilliseconds} ms, {imported} imported, {rejected} rejected");
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(20)));
        Assert.True(iterations >= 20, $"only {iterations} archives were tried in {TimeBudget}");
        Assert.Empty(sandbox.StoreLeftovers());
    }

    private static List<(string Name, byte[] Archive)> Seeds()
    {
        var rootfs = new TarBuilder().Dir("bin").File("bin/sh", "#!/bin/true\n", "755").Symlink("bin/ls", "sh")
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").HardLink("etc/passwd2", "etc/passwd")
            .File("d/" + new string('n', 150), "long name");
        var lower = new TestLayer(rootfs.ToBytes());
        var upper = new TestLayer(new TarBuilder().Dir("etc").File("etc/.wh.passwd2", string.Empty).File("etc/hosts", "127.0.0.1 x\n").ToBytes(), Gzip: true);
        return
        [
            ("rootfs.tar", rootfs.ToBytes()),
            ("rootfs.tar.gz", rootfs.ToBytes(gzip: true)),
            ("docker-save", ImageArchives.DockerSave([(["fuzz:1"], [lower, upper])])),
            ("docker-save-oci", ImageArchives.DockerSave([(["fuzz:2"], [lower]), (["fuzz:3"], [lower, upper])], ociStyle: true)),
        ];
    }

    private static byte[] Mutate(Random random, byte[] valid, out string how)
    {
        var bytes = (byte[])valid.Clone();
        switch (random.Next(6))
        {
            case 0:
                var flips = random.Next(1, 16);
                for (var i = 0; i < flips; i++)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                how = $"{flips} random bytes";
                return bytes;
            case 1:
                var length = random.Next(bytes.Length);
                how = $"truncated to {length}";
                return bytes[..length];
            case 2:
                // A header's size field (at a 512-byte boundary) made huge, octal or base-256.
                var block = random.Next(bytes.Length / 512) * 512;
                var huge = random.Next(2) == 0 ? "77777777777\0"u8.ToArray() : [0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
                if (block + 136 <= bytes.Length)
                {
                    huge.CopyTo(bytes, block + 124);
                }

                how = $"size field at {block} set huge";
                return bytes;
            case 3:
                // A header's type flag changed to a metadata type or something odd.
                var at = random.Next(bytes.Length / 512) * 512 + 156;
                var type = "xgLK0125734SDMNV"[random.Next(16)];
                if (at < bytes.Length)
                {
                    bytes[at] = (byte)type;
                }

                how = $"type at {at} set to '{type}'";
                return bytes;
            case 4:
                // A chunk repeated: duplicated entries, misaligned headers.
                var start = random.Next(bytes.Length);
                var count = Math.Min(random.Next(1, 4096), bytes.Length - start);
                how = $"{count} bytes at {start} repeated";
                return [.. bytes[..(start + count)], .. bytes[start..]];
            default:
                how = "gzipped after mutation";
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return TarBuilder.Gzip(bytes);
        }
    }
}
