namespace Portal.Compute.Tests;

/// <summary>
/// Tests that bound what the whole process allocates or holds (GC.GetTotalAllocatedBytes counts every thread,
/// /proc/self/fd every descriptor) run alone, after the parallel ones, so another test's never count against them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMeasuring
{
    public const string Name = "measures the process";
}
