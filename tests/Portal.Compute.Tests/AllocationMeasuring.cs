namespace Portal.Compute.Tests;

/// <summary>
/// Tests that bound what the process allocates (GC.GetTotalAllocatedBytes counts every thread) run alone, after the
/// parallel ones, so another test's allocations never count against them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasuring
{
    public const string Name = "measures allocations";
}
