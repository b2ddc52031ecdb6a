using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Portal.Compute;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Bench.CreateStartWait;

/// <summary>
/// Starts a private compute stack, then times create+start+wait of /bin/true through the library and through the chosen
/// OCI runtime directly, interleaved so machine noise hits both. Everything it made is removed, however it ends.
/// </summary>
public static class CreateStartWaitBenchmark
{
    public static async Task<CreateStartWaitReport> RunAsync(int iterations, int warmups, ILoggerFactory loggerFactory, TextWriter log, CancellationToken ct)
    {
        TestSandbox.RequireRoot();
        var sandbox = new TestSandbox("portal-bench");
        ComputeHost? host = null;
        DirectRuntimePath? peer = null;
        try
        {
            log.WriteLine($"Starting a private compute stack ({sandbox.Tag}) ...");
            host = await ComputeHost.StartAsync(sandbox.Options, loggerFactory, ct);
            var info = host.GetHostInfo();
            var runtime = info.ProcessRuntime;
            log.WriteLine($"Runtime: {runtime.Name} {runtime.Version} at {runtime.Path} ({runtime.Reason})");

            var image = host.Images.Resolve("busybox");
            peer = new DirectRuntimePath(runtime, image, sandbox.PrivateRoot, sandbox.Options.CgroupParent, sandbox.Options.DefaultPidsLimit, info.CgroupMode == "v2");
            peer.Prepare();
            var library = new ComputeServicePath(host);

            var librarySamples = new List<LibrarySample>(iterations);
            var peerSamples = new List<double>(iterations);
            for (var i = 0; i < warmups + iterations; i++)
            {
                ct.ThrowIfCancellationRequested();
                var a = await library.RunOnceAsync(ct);
                var b = await peer.RunOnceAsync(i, ct);
                var measured = i >= warmups;
                if (measured)
                {
                    librarySamples.Add(a);
                    peerSamples.Add(b);
                }

                log.WriteLine($"  {(measured ? $"#{i - warmups + 1,3}" : "warm")}  library {a.TotalMs,7:F1} ms (create {a.CreateMs,5:F1}, start {a.StartMs,5:F1}, wait {a.WaitMs,5:F1}; remove {a.RemoveMs,5:F1})   peer {b,7:F1} ms");
            }

            return CreateStartWaitReport.From(DateTimeOffset.UtcNow, Describe(info), warmups, librarySamples, peerSamples);
        }
        finally
        {
            await CleanUpAsync(sandbox, host, peer, log);
        }
    }

    private static BenchHost Describe(HostInfo info) => new()
    {
        Kernel = info.Kernel,
        OperatingSystem = info.OperatingSystem,
        Cpus = info.Cpus,
        CgroupMode = info.CgroupMode,
        Dotnet = RuntimeInformation.FrameworkDescription,
        RuntimeName = info.ProcessRuntime.Name,
        RuntimeVersion = info.ProcessRuntime.Version,
        RuntimePath = info.ProcessRuntime.Path,
        RuntimeReason = info.ProcessRuntime.Reason,
    };

    /// <summary>Each step runs even when an earlier one failed: containers, the stack, the peer's mount, then the sandbox sweep.</summary>
    private static async Task CleanUpAsync(TestSandbox sandbox, ComputeHost? host, DirectRuntimePath? peer, TextWriter log)
    {
        log.WriteLine("Cleaning up ...");
        if (host is not null)
        {
            foreach (var container in host.Containers.ListContainers())
            {
                await TryAsync(log, $"remove container {container.Name}", () => host.Containers.RemoveContainerAsync(container.Id, force: true, CancellationToken.None));
            }

            await TryAsync(log, "stop the compute stack", async () => await host.DisposeAsync());
        }

        if (peer is not null)
        {
            await TryAsync(log, "clean up the peer runtime's container and mount", async () => await peer.DisposeAsync());
        }

        await TryAsync(log, "remove the sandbox (processes, cgroups, mounts, directories)", () =>
        {
            sandbox.Clean();
            return Task.CompletedTask;
        });
    }

    private static async Task TryAsync(TextWriter log, string what, Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception e)
        {
            log.WriteLine($"Clean-up: could not {what}: {e.Message}");
        }
    }
}
