using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>docker top and docker stats.</summary>
internal static class DockerContainerMetrics
{
    private static readonly string[] TopTitles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

    public static void MapDockerContainerMetrics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/containers/{id}/top", TopAsync);
        app.MapGet("/containers/{id}/stats", StatsAsync);
    }

    /// <summary>
    /// ps -ef's columns. Process isolation shows host PIDs, as dockerd does (it runs ps on the host); VM isolation shows
    /// the guest's own PIDs, since the host cannot see those processes.
    /// </summary>
    private static async Task TopAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        if (container.State is not (ContainerState.Running or ContainerState.Stopping))
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"container {container.Id} is not running");
        }

        var processes = await host.Containers.GetProcessesAsync(container.Id, http.RequestAborted).ConfigureAwait(false);
        var hostView = container.RuntimeType == RuntimeType.Default;
        var hostPidOf = processes.Where(p => p.HostPid is not null).ToDictionary(p => p.Pid, p => p.HostPid!.Value);
        string Shown(int? insidePid) => insidePid is not { } pid || pid == 0
            ? "0"
            : (hostView && hostPidOf.TryGetValue(pid, out var hostPid) ? hostPid : pid).ToString(CultureInfo.InvariantCulture);
        var rows = processes.Select(p => (IReadOnlyList<string>)
        [
            p.User,
            (hostView ? p.HostPid ?? p.Pid : p.Pid).ToString(CultureInfo.InvariantCulture),
            Shown(p.ParentPid),
            "0",
            "",
            "?",
            DockerFormat.CpuTime(p.CpuSeconds),
            p.CommandLine.Length > 0 ? p.CommandLine : p.Name,
        ]).ToList();
        await DockerJson.WriteAsync(http, new DockerTopResponse(TopTitles, rows)).ConfigureAwait(false);
    }

    private static async Task StatsAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        var stream = DockerQuery.Bool(http, "stream", fallback: true);
        var oneShot = DockerQuery.Bool(http, "one-shot");
        var ct = http.RequestAborted;
        var memTotal = host.GetHostInfo().MemoryBytes;

        async Task<Sample> SampleAsync() =>
            new(await host.Containers.GetStatisticsAsync(container.Id, ct).ConfigureAwait(false), SystemCpuNanoseconds());

        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        var previous = oneShot ? null : await SampleAsync().ConfigureAwait(false);
        if (!stream && !oneShot)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false); // as dockerd: two samples, so CPU % can be computed
        }

        while (true)
        {
            var current = await SampleAsync().ConfigureAwait(false);
            var document = ToDocument(container, current, previous, memTotal);
            await http.Response.WriteAsync(JsonSerializer.Serialize(document, DockerJson.Stats) + "\n", ct).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            if (!stream)
            {
                return;
            }

            previous = current;
            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            try
            {
                host.Containers.GetContainer(container.Id);
            }
            catch (Portal.Compute.ComputeException)
            {
                return; // removed: the stream ends
            }
        }
    }

    private sealed record Sample(ContainerStatistics Stats, ulong SystemCpu);

    private static DockerStats ToDocument(ContainerInfo container, Sample current, Sample? previous, long memTotal)
    {
        static DockerCpuStats Cpu(Sample? s) => new(
            new DockerCpuUsage(s is null ? 0 : (ulong)(s.Stats.CpuSeconds * 1e9), 0, 0),
            s?.SystemCpu ?? 0,
            s is null ? 0 : Environment.ProcessorCount,
            new DockerThrottling(0, 0, 0));

        var s = current.Stats;
        return new DockerStats
        {
            Name = "/" + container.Name,
            Id = container.Id,
            Read = DockerFormat.Time(s.Timestamp),
            Preread = previous is null ? DockerFormat.ZeroTime : DockerFormat.Time(previous.Stats.Timestamp),
            PidsStats = new DockerPidsStats(s.Pids, s.PidsLimit),
            CpuStats = Cpu(current),
            PrecpuStats = Cpu(previous),
            MemoryStats = new DockerMemoryStats(s.MemoryBytes, s.MemoryLimitBytes ?? memTotal, new Dictionary<string, long>()),
        };
    }

    /// <summary>The host's total CPU time in nanoseconds, from /proc/stat (what dockerd reports as system_cpu_usage).</summary>
    private static ulong SystemCpuNanoseconds()
    {
        var line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
        {
            return 0;
        }

        ulong ticks = 0;
        foreach (var field in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8))
        {
            ticks += ulong.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;
        }

        return ticks * 10_000_000; // USER_HZ is 100 on Linux: one tick is 10 ms
    }
}
