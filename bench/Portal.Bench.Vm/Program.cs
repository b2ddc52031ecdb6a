using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Compute.Images;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;
using Portal.Tests.Shared;

// VM isolation benchmark: start-to-first-output of a VM-isolated busybox container against a raw QEMU boot of the same
// kernel (same machine type, same accelerator) into a trivial busybox initramfs, interleaved in one run; and the host
// memory a VM worker costs beyond the guest's own memory in use.
//   dotnet run -c Release --project bench/Portal.Bench.Vm [-- RUNS]
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
const string Guest = "/var/cache/portal/guest";
var kernel = Path.Combine(Guest, "vmlinuz");
var sandbox = new TestSandbox();
var options = sandbox.Options;
var vmOptions = new VmOptions
{
    RunRoot = options.RunRoot,
    KernelPath = kernel,
    InitramfsPath = Path.Combine(Guest, "initramfs.img"),
    CgroupParent = options.CgroupParent,
    BootTimeout = TimeSpan.FromSeconds(120),
};
try
{
    Directory.CreateDirectory(options.StateRoot);
    var driver = await VmIsolationDriver.CreateAsync(vmOptions, NullLogger.Instance, CancellationToken.None);
    var images = new ImageStore(new ImageStoreOptions { Root = Path.Combine(options.StateRoot, "images") }, NullLogger<ImageStore>.Instance);
    await images.EnsureBusyboxAsync(options.BusyboxPath, CancellationToken.None);
    await using var compute = new ComputeService(options, images, [driver], NullLogger<ComputeService>.Instance);
    await compute.InitializeAsync(CancellationToken.None);
    var trivial = Path.Combine(options.StateRoot, "trivial-initramfs.img");
    WriteTrivialInitramfs(trivial, options.BusyboxPath);
    var accel = driver.Accelerator.Accelerator == VmAccelerator.Kvm ? new[] { "-accel", "kvm", "-cpu", "host" } : ["-accel", $"tcg,tb-size={vmOptions.TcgTranslationCacheMiB}"];

    var raw = new List<double>();
    var container = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        raw.Add(await RawBootAsync(kernel, trivial, accel));
        container.Add(await ContainerFirstOutputAsync(compute, i));
        Console.WriteLine($"run {i + 1}: raw boot {raw[^1]:0.000} s, VM container {container[^1]:0.000} s");
    }

    var memory = await WorkerMemoryAsync(compute);
    var result = new
    {
        Accelerator = driver.Accelerator.Name,
        AcceleratorReason = driver.Accelerator.Reason,
        Machine = "pc",
        GuestMemoryMiB = vmOptions.DefaultMemoryBytes >> 20,
        TcgTranslationCacheMiB = vmOptions.TcgTranslationCacheMiB,
        Runs = runs,
        RawBootToInitSeconds = new { Median = Median(raw), All = raw },
        ContainerStartToFirstOutputSeconds = new { Median = Median(container), All = container },
        Ratio = Math.Round(Median(container) / Median(raw), 3),
        RatioGoal = 1.15,
        WorkerRssMiB = memory.Rss,
        GuestMemoryInUseMiB = memory.GuestInUse,
        OverheadMiB = memory.Rss - memory.GuestInUse,
        OverheadGoalMiB = 40,
        Host = new { Cpus = Environment.ProcessorCount, Load = File.ReadAllText("/proc/loadavg").Trim() },
        MeasuredAt = DateTimeOffset.UtcNow,
    };
    var results = FindResultsDirectory();
    await File.WriteAllTextAsync(Path.Combine(results, "vm-start.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
    var md = new StringBuilder()
        .AppendLine("# VM isolation: start to first output, and worker memory")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Accelerator: **{result.Accelerator}** ({result.AcceleratorReason}). Machine `-M pc`, guest RAM {result.GuestMemoryMiB} MiB, TCG tb-size {result.TcgTranslationCacheMiB} MiB, {runs} interleaved runs, host load {result.Host.Load}.")
        .AppendLine()
        .AppendLine("| Measure | Median (s) | Runs (s) |")
        .AppendLine("|---|---|---|")
        .AppendLine(CultureInfo.InvariantCulture, $"| raw QEMU boot of the same kernel to a busybox init that prints a line | {Median(raw):0.000} | {string.Join(", ", raw.Select(r => r.ToString("0.000", CultureInfo.InvariantCulture)))} |")
        .AppendLine(CultureInfo.InvariantCulture, $"| VM-isolated busybox container: StartContainerAsync to its first log line | {Median(container):0.000} | {string.Join(", ", container.Select(r => r.ToString("0.000", CultureInfo.InvariantCulture)))} |")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Ratio container / raw boot: **{result.Ratio:0.00}x** (goal <= {result.RatioGoal}x).")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Worker memory: RSS {memory.Rss:0.0} MiB, guest memory in use (MemTotal - MemFree inside) {memory.GuestInUse:0.0} MiB, overhead **{result.OverheadMiB:0.0} MiB** per VM (goal <= 40 MiB).");
    await File.WriteAllTextAsync(Path.Combine(results, "vm-start.md"), md.ToString());
    Console.WriteLine(md);
    foreach (var c in compute.ListContainers())
    {
        await compute.RemoveContainerAsync(c.Id, force: true);
    }
}
finally
{
    sandbox.Clean();
}

static async Task<double> RawBootAsync(string kernel, string initramfs, string[] accel)
{
    var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
    foreach (var a in (string[])["-M", "pc", .. accel, "-m", "256M", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", kernel, "-initrd", initramfs, "-append", "console=ttyS0 quiet panic=-1 reboot=t"])
    {
        psi.ArgumentList.Add(a);
    }

    var watch = Stopwatch.StartNew();
    using var qemu = Process.Start(psi)!;
    double? seen = null;
    while (await qemu.StandardOutput.ReadLineAsync() is { } line)
    {
        if (seen is null && line.Contains("PORTAL-BENCH-INIT", StringComparison.Ordinal))
        {
            seen = watch.Elapsed.TotalSeconds;
        }
    }

    await qemu.WaitForExitAsync();
    return seen ?? throw new InvalidOperationException("The raw boot never reached init: " + await qemu.StandardError.ReadToEndAsync());
}

static async Task<double> ContainerFirstOutputAsync(ComputeService compute, int run)
{
    var created = await compute.CreateContainerAsync(new ContainerCreateSpec { Name = $"bench-vm-{run}", Image = "busybox", Command = ["echo", "hello"], RuntimeType = RuntimeType.HyperV, SwitchName = "none" }); // the raw boot it is compared with has no NIC either
    var watch = Stopwatch.StartNew();
    await compute.StartContainerAsync(created.Id);
    double? first = null;
    await foreach (var _ in compute.ReadLogsAsync(created.Id, null, follow: true))
    {
        first = watch.Elapsed.TotalSeconds;
        break;
    }

    await compute.WaitAsync(created.Id);
    await compute.RemoveContainerAsync(created.Id);
    return first ?? throw new InvalidOperationException("The VM container printed nothing.");
}

static async Task<(double Rss, double GuestInUse)> WorkerMemoryAsync(ComputeService compute)
{
    var created = await compute.CreateContainerAsync(new ContainerCreateSpec { Name = "bench-vm-memory", Image = "busybox", Command = ["sleep", "600"], RuntimeType = RuntimeType.HyperV, SwitchName = "none" });
    await compute.StartContainerAsync(created.Id);
    await Task.Delay(3000);
    var worker = compute.EnumerateComputeSystems().Single(s => s.Id == created.Id + "@vm").HostPid!.Value;
    await using var process = await compute.ExecAsync(created.Id, new ProcessSpec { Command = ["cat", "/proc/meminfo"] });
    var meminfo = await new StreamReader(process.StandardOutput).ReadToEndAsync();
    await process.WaitAsync();
    double Kb(string text, string key) => double.Parse(text.Split('\n').First(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    var rss = Kb(await File.ReadAllTextAsync($"/proc/{worker}/status"), "VmRSS");
    var inUse = Kb(meminfo, "MemTotal") - Kb(meminfo, "MemFree");
    await compute.RemoveContainerAsync(created.Id, force: true);
    return (Math.Round(rss, 1), Math.Round(inUse, 1));
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return Math.Round(sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2, 3);
}

static string FindResultsDirectory()
{
    var dir = AppContext.BaseDirectory;
    while (dir is not null && !Directory.Exists(Path.Combine(dir, "bench", "results")))
    {
        dir = Path.GetDirectoryName(dir);
    }

    return dir is null ? Directory.GetCurrentDirectory() : Path.Combine(dir, "bench", "results");
}

// A newc cpio (gzip) with busybox-static and an /init that prints a marker and reboots (QEMU exits on -no-reboot).
static void WriteTrivialInitramfs(string path, string busybox)
{
    using var file = File.Create(path);
    using var gzip = new GZipStream(file, CompressionLevel.Fastest);
    var ino = 1;
    void Entry(string name, int mode, byte[] data)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        var header = "070701" + string.Concat(new[] { ino++, mode, 0, 0, 1, 0, data.Length, 0, 0, 0, 0, nameBytes.Length, 0 }.Select(f => f.ToString("X8", CultureInfo.InvariantCulture)));
        gzip.Write(Encoding.ASCII.GetBytes(header));
        gzip.Write(nameBytes);
        gzip.Write(new byte[(4 - ((header.Length + nameBytes.Length) % 4)) % 4]);
        gzip.Write(data);
        gzip.Write(new byte[(4 - (data.Length % 4)) % 4]);
    }

    Entry("bin", 0x41ED, []);
    Entry("bin/busybox", 0x81ED, File.ReadAllBytes(busybox));
    Entry("init", 0x81ED, Encoding.ASCII.GetBytes("#!/bin/busybox sh\n/bin/busybox echo PORTAL-BENCH-INIT\n/bin/busybox reboot -f\n"));
    Entry("TRAILER!!!", 0, []);
}
