using Portal.Compute.Linux.Vm;

namespace Portal.Compute.Tests.Vm;

/// <summary>Worker uid allocation over a temp run root and a given set of host ids (the seam): no root, no processes.</summary>
public sealed class VmWorkerUidsTests : IDisposable
{
    private const uint Base = 1_900_000_000;
    private readonly string _vmRoot = Directory.CreateTempSubdirectory("portal-uids-").FullName;
    private HashSet<uint> _host = [];

    private VmWorkerUids Uids() => new(_vmRoot, Base, () => _host);

    [Fact]
    public void Ids_that_hash_alike_get_different_uids_and_the_preferred_one_when_it_is_free()
    {
        // The first 24 bits decide the preferred uid: these two would share it.
        var a = "abcdef" + new string('1', 58);
        var b = "abcdef" + new string('2', 58);
        Assert.Equal(VmWorker.UidFor(a, Base), VmWorker.UidFor(b, Base));

        var uids = Uids();
        var first = uids.Allocate(a);
        var second = uids.Allocate(b);
        Assert.Equal(VmWorker.UidFor(a, Base), first);
        Assert.NotEqual(first, second);
        Assert.Equal(first + 1, second);
        Assert.Equal(first, uids.Allocate(a)); // a worker keeps the uid it holds
        Assert.Equal(second, new VmWorkerUids(_vmRoot, Base, () => _host).Allocate(b)); // and across agent restarts (the run directory holds it)
    }

    [Fact]
    public void Uids_of_host_accounts_and_processes_are_skipped_and_the_range_wraps()
    {
        var id = "ffffff" + new string('0', 58);
        _host = [Base + 0xffffff, Base];
        Assert.Equal(Base + 1, Uids().Allocate(id)); // past the top, wrapped, past the host's
    }

    [Fact]
    public void A_removed_vm_releases_its_uid()
    {
        var a = "123456" + new string('a', 58);
        var b = "123456" + new string('b', 58);
        var uids = Uids();
        var first = uids.Allocate(a);
        Assert.NotEqual(first, uids.Allocate(b));
        Directory.Delete(Path.Combine(_vmRoot, a), recursive: true); // what the driver's clean-up does
        Directory.Delete(Path.Combine(_vmRoot, b), recursive: true);
        Assert.Equal(first, uids.Allocate(b));
    }

    [Fact]
    public async Task Concurrent_starts_never_share_a_uid()
    {
        var uids = Uids();
        var ids = Enumerable.Range(0, 64).Select(i => "aaaaaa" + i.ToString("x58")).ToList();
        var allocated = await Task.WhenAll(ids.Select(id => Task.Run(() => uids.Allocate(id))));
        Assert.Equal(ids.Count, allocated.Distinct().Count());
    }

    public void Dispose() => Directory.Delete(_vmRoot, recursive: true);
}
