using System.Globalization;
using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>How the portal writes sizes, durations and isolation levels.</summary>
public static class Format
{
    public static string Bytes(long? bytes)
    {
        if (bytes is not { } b)
        {
            return "";
        }

        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = b;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{b} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }

    public static string Duration(TimeSpan? duration) => duration switch
    {
        null => "",
        { TotalDays: >= 1 } d => $"{(int)d.TotalDays}d {d.Hours}h",
        { TotalHours: >= 1 } d => $"{(int)d.TotalHours}h {d.Minutes}m",
        { TotalMinutes: >= 1 } d => $"{(int)d.TotalMinutes}m {d.Seconds}s",
        { } d => $"{Math.Max(0, (int)d.TotalSeconds)}s",
    };

    /// <summary>
    /// How long something has run, to the minute once it is past one (as docker ps): a grid of running containers then
    /// changes once a minute, not every second.
    /// </summary>
    public static string Uptime(TimeSpan? uptime) => uptime is { TotalHours: < 1, TotalMinutes: >= 1 } d ? $"{(int)d.TotalMinutes}m" : Duration(uptime);

    public static string Percent(double? percent) => percent is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p:0.0} %") : "";

    /// <summary>Default is process isolation, HyperV is VM isolation (the seed's terms with ours).</summary>
    public static string Isolation(RuntimeType runtimeType) => runtimeType == RuntimeType.HyperV ? "HyperV (VM)" : "Default (process)";

    /// <summary>A switch type as Hyper-V names it: NAT, Internal, Private, None.</summary>
    public static string SwitchType(SwitchType type) => type == Portal.Contracts.SwitchType.Nat ? "NAT" : type.ToString();

    /// <summary>Published ports as docker shows them: 127.0.0.1:8080->80/tcp, comma-separated.</summary>
    public static string Ports(IEnumerable<PortMapping> ports) =>
        string.Join(", ", ports.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{(string.IsNullOrEmpty(p.HostIp) ? "" : p.HostIp + ":")}{p.HostPort}->{p.ContainerPort}/{p.Protocol}")));
}
