namespace Portal.Web.Hosts;

/// <summary>A container's recent resource use: CPU in percent of one core over the last sample interval, and memory.</summary>
public sealed record ContainerUsage(double? CpuPercent, long MemoryBytes, long? MemoryLimitBytes, long Pids, DateTimeOffset At);
