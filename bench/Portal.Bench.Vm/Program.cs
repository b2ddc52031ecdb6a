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
using Portal.Bench.Shared;
using Portal.Tests.Shared;

// VM isolation benchmark: start-to-first-output of a VM-isolated busybox container against a raw QEMU boot of the same
// kernel (same machine type, same accelerator) into a trivial busybox initramfs, interleaved in one run; and the host
// memory a VM worker costs beyond the guest's own memory in use.
//   dotnet run -c Release --project bench/Portal.Bench.Vm [-- RUNS]
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
// PORTAL_GUEST picks another guest build (deploy/guest/build OUTDIR), e.g. to compare two.
var Guest = Environment.GetEnvironmentVariable("PORTAL_GUEST") ?? "/var/cache/portal/guest";
// PORTAL_GUEST_PARAMS adds kernel parameters to both boots (the raw one and the container's), to try some out.
var extraParameters = Environment.GetEnvironmentVariable("PORTAL_GUEST_PARAMS");
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
    KernelParameters = extraParameters,
};
try
{
    Directory.CreateDirectory(options.StateRoot);
    var driver = await VmIsolationDriver.CreateAsync(vmOptions, NullLogger.Instance, CancellationToken.None);
    var images = new ImageStore(new ImageStoreOptions { Root = Path.Combine(options.StateRoot, "images") }, NullLogger<ImageStore>.Instance);
    await images.EnsureBusyboxAsync(options.BusyboxPath, CancellationToken.None);
    await using var compute = await ComputeHost.OpenAsync(options, images, [driver], NullLoggerFactory.Instance, CancellationToken.None);
    var trivial = Path.Combine(options.StateRoot, "trivial-initramfs.img");
    WriteTrivialInitramfs(trivial, options.BusyboxPath);
    var accel = driver.Accelerator.Accelerator == VmAccelerator.Kvm ? new[] { "-accel", "kvm", "-cpu", "host" } : ["-accel", $"tcg,tb-size={vmOptions.TcgTranslationCacheMiB}"];

    List<double> raw = [], container = [], rawCpu = [], containerCpu = [];
    for (var i = 0; i < runs; i++)
    {
        var (rawWall, rawCpuTime) = await RawBootAsync(kernel, trivial, accel, driver.Accelerator.Accelerator, extraParameters);
        var (containerWall, containerCpuTime) = await ContainerFirstOutputAsync(compute, i);
        raw.Add(rawWall);
        rawCpu.Add(rawCpuTime);
        container.Add(containerWall);
        containerCpu.Add(containerCpuTime);
        Console.WriteLine($"run {i + 1}: raw boot {rawWall:0.000} s ({rawCpuTime:0.00} s CPU), VM container {containerWall:0.000} s ({containerCpuTime:0.00} s CPU)");
    }

    var memory = await WorkerMemoryAsync(compute, vmOptions.DefaultMemoryBytes);
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
        RawBootCpuSeconds = new { Median = Median(rawCpu), All = rawCpu },
        ContainerCpuSeconds = new { Median = Median(containerCpu), All = containerCpu },
        CpuRatio = Math.Round(Median(containerCpu) / Median(rawCpu), 3),
        RatioGoal = 1.15,
        WorkerRssMiB = memory.Rss,
        GuestMemoryInUseMiB = memory.GuestInUse,
        OverheadMiB = Math.Round(memory.Rss - memory.GuestInUse, 1),
        WorkerPrivateMiB = memory.Private,
        PrivateOverheadMiB = Math.Round(memory.Private - memory.GuestInUse, 1),
        RssBreakdownMiB = new { GuestRam = memory.GuestRam, TranslationCache = memory.TranslationCache, Qemu = Math.Round(memory.Rss - memory.GuestRam - memory.TranslationCache, 1) },
        MemorySettledAfterSeconds = memory.SettledAfter,
        OverheadGoalMiB = 40,
        Host = new { Cpus = Environment.ProcessorCount, Load = File.ReadAllText("/proc/loadavg").Trim() },
        MeasuredAt = DateTimeOffset.UtcNow,
    };
    var results = ResultsDirectory.Find();
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
        .AppendLine(CultureInfo.InvariantCulture, $"| raw boot: QEMU CPU time (user + system) when init printed | {Median(rawCpu):0.00} | {string.Join(", ", rawCpu.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))} |")
        .AppendLine(CultureInfo.InvariantCulture, $"| VM-isolated container: worker CPU time at its first log line | {Median(containerCpu):0.00} | {string.Join(", ", containerCpu.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))} |")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Ratio container / raw boot: **{result.Ratio:0.00}x** wall-clock (goal <= {result.RatioGoal}x); CPU time {result.CpuRatio:0.00}x (less sensitive to other load on the host).")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Worker memory once settled ({memory.SettledAfter:0} s after start, free page reporting done): RSS {memory.Rss:0.0} MiB, guest memory in use (MemTotal - MemFree inside) {memory.GuestInUse:0.0} MiB, overhead **{result.OverheadMiB:0.0} MiB** per VM (goal <= 40 MiB).")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Where the RSS is (smaps): guest RAM resident {memory.GuestRam:0.0} MiB, TCG translation cache {memory.TranslationCache:0.0} MiB (none under KVM), QEMU itself (heap, TLB, libraries, binary) {result.RssBreakdownMiB.Qemu:0.0} MiB. Private to this worker (RSS without the library and binary pages all workers share): {memory.Private:0.0} MiB, i.e. {result.PrivateOverheadMiB:0.0} MiB beyond the guest's use.");
    await File.WriteAllTextAsync(Path.Combine(results, "vm-start.md"), md.ToString());
    Console.WriteLine(md);
    foreach (var c in compute.Containers.ListContainers())
    {
        await compute.Containers.RemoveContainerAsync(c.Id, force: true);
    }
}
finally
{
    sandbox.Clean();
}

// CPU time (user + system, all threads) a QEMU process has used so far: unlike wall-clock time it hardly depends on
// what else the host is running, so it shows where the time goes on a busy machine.
static double CpuSeconds(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

static async Task<(double Wall, double Cpu)> RawBootAsync(string kernel, string initramfs, string[] accel, VmAccelerator accelerator, string? extraParameters)
{
    var psi = new ProcessStartInfo("qemu-system-x86_64") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
    foreach (var a in (string[])["-M", "pc", .. accel, "-m", "256M", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", kernel, "-initrd", initramfs, "-append", QemuCommandLine.KernelParameters(accelerator, extraParameters)])
    {
        psi.ArgumentList.Add(a);
    }

    var watch = Stopwatch.StartNew();
    using var qemu = Process.Start(psi)!;
    (double Wall, double Cpu)? seen = null;
    while (await qemu.StandardOutput.ReadLineAsync() is { } line)
    {
        if (seen is null && line.Contains("PORTAL-BENCH-INIT", StringComparison.Ordinal))
        {
            seen = (watch.Elapsed.TotalSeconds, CpuSeconds(qemu.Id));
        }
    }

    await qemu.WaitForExitAsync();
    return seen ?? throw new InvalidOperationException("The raw boot never reached init: " + await qemu.StandardError.ReadToEndAsync());
}

static async Task<(double Wall, double Cpu)> ContainerFirstOutputAsync(IComputeHost compute, int run)
{
    // The sleep keeps the worker alive while its CPU time is read.
    var created = await compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = $"bench-vm-{run}", Image = "busybox", Command = ["sh", "-c", "echo hello; sleep 1"], RuntimeType = RuntimeType.HyperV, SwitchName = "none" }); // the raw boot has no NIC either
    var watch = Stopwatch.StartNew();
    await compute.Containers.StartContainerAsync(created.Id);
    var worker = compute.HostProcesses.EnumerateComputeSystems().Single(s => s.Id == created.Id + "@vm").HostPid!.Value;
    (double Wall, double Cpu)? first = null;
    await foreach (var _ in compute.Containers.ReadLogsAsync(created.Id, null, follow: true))
    {
        first = (watch.Elapsed.TotalSeconds, CpuSeconds(worker));
        break;
    }

    await compute.Containers.WaitAsync(created.Id);
    await compute.Containers.RemoveContainerAsync(created.Id);
    return first ?? throw new InvalidOperationException("The VM container printed nothing.");
}

static double Median(List<double> values) => Math.Round(Percentiles.Median(values.Order().ToList()), 3);

// The worker's memory once it has settled: the guest reports the pages its boot touched and freed (free page
// reporting, a few seconds after virtio_balloon loads), so RSS is sampled until it stops falling.
static async Task<(double Rss, double Private, double GuestInUse, double GuestRam, double TranslationCache, double SettledAfter)> WorkerMemoryAsync(IComputeHost compute, long guestMemoryBytes)
{
    var created = await compute.Containers.CreateContainerAsync(new ContainerCreateSpec { Name = "bench-vm-memory", Image = "busybox", Command = ["sleep", "600"], RuntimeType = RuntimeType.HyperV, SwitchName = "none" }); // the raw boot has no NIC either
    var watch = Stopwatch.StartNew();
    await compute.Containers.StartContainerAsync(created.Id);
    var worker = compute.HostProcesses.EnumerateComputeSystems().Single(s => s.Id == created.Id + "@vm").HostPid!.Value;
    double Kb(string text, string key) => double.Parse(text.Split('\n').First(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    double Rss() => Kb(File.ReadAllText($"/proc/{worker}/status"), "VmRSS");
    var previous = Rss();
    while (watch.Elapsed < TimeSpan.FromSeconds(30))
    {
        await Task.Delay(2000);
        var now = Rss();
        if (previous - now < 1)
        {
            break;
        }

        previous = now;
    }

    await using var process = await compute.Containers.ExecAsync(created.Id, new ProcessSpec { Command = ["cat", "/proc/meminfo"] });
    var meminfo = await new StreamReader(process.StandardOutput).ReadToEndAsync();
    await process.WaitAsync();
    var rss = Rss();
    var rollup = File.ReadAllText($"/proc/{worker}/smaps_rollup");
    var privateMiB = Kb(rollup, "Private_Clean") + Kb(rollup, "Private_Dirty");
    var (guestRam, translationCache) = Mappings(worker, guestMemoryBytes);
    var inUse = Kb(meminfo, "MemTotal") - Kb(meminfo, "MemFree");
    await compute.Containers.RemoveContainerAsync(created.Id, force: true);
    return (Math.Round(rss, 1), Math.Round(privateMiB, 1), Math.Round(inUse, 1), Math.Round(guestRam, 1), Math.Round(translationCache, 1), Math.Round(watch.Elapsed.TotalSeconds));
}

// Resident MiB of the guest RAM mapping (anonymous, exactly the guest's size) and of TCG's code buffer (the rwx one).
static (double GuestRam, double TranslationCache) Mappings(int pid, long guestMemoryBytes)
{
    double guestRam = 0, code = 0;
    long size = 0;
    var perms = "";
    foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !line.StartsWith("VmFlags", StringComparison.Ordinal))
        {
            var range = fields[0].Split('-');
            size = long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) - long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            perms = fields[1];
        }
        else if (fields.Length >= 2 && fields[0] == "Rss:")
        {
            var mib = double.Parse(fields[1], CultureInfo.InvariantCulture) / 1024;
            if (size == guestMemoryBytes && perms.StartsWith("rw-", StringComparison.Ordinal))
            {
                guestRam += mib;
            }
            else if (perms.StartsWith("rwx", StringComparison.Ordinal))
            {
                code += mib;
            }
        }
    }

    return (guestRam, code);
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
