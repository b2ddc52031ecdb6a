using System.Text;
using Portal.Compute.Images;
using Portal.Compute.Linux.ProcessIsolation;

namespace Portal.Compute.Tests.Images;

/// <summary>
/// Files the agent reads inside a container's root (/etc/passwd, /etc/group): the container controls them, so a FIFO
/// must not block the agent, a symlink must not reach a host file and a huge file must not be read whole. No root needed.
/// </summary>
public sealed class ContainedFileTests : IDisposable
{
    private static readonly TimeSpan NeverBlocks = TimeSpan.FromSeconds(10);
    private readonly string _root = Directory.CreateTempSubdirectory("portal-contained-").FullName;

    public ContainedFileTests() => Directory.CreateDirectory(Path.Combine(_root, "etc"));

    private string Etc(string name) => Path.Combine(_root, "etc", name);

    [Fact]
    public async Task A_fifo_at_etc_passwd_is_refused_without_blocking()
    {
        PosixFile.MkFifo(Etc("passwd"), 0x1A4);

        var file = await Task.Run(() => ContainedPath.ReadFile(_root, "etc/passwd")).WaitAsync(NeverBlocks);
        Assert.Null(file.Content);
        Assert.Contains("a FIFO", file.Problem);

        // Start and exec refuse at once with what to do (the runtime would open the FIFO and hang); the process list names uids by number.
        foreach (var user in new[] { "app", "1000", null })
        {
            var error = await Assert.ThrowsAsync<ComputeException>(() => Task.Run(() => ContainerUser.Resolve(user, _root)).WaitAsync(NeverBlocks));
            Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
            Assert.Contains("/etc/passwd cannot be used: it is a FIFO", error.Message);
        }

        Assert.Equal("1000", (await Task.Run(() => ContainerUser.NameLookup(_root)).WaitAsync(NeverBlocks))(1000));
    }

    [Theory]
    [InlineData("/etc/shadow")]
    [InlineData("../../../../../../etc/shadow")]
    [InlineData("/../../etc/./shadow")]
    public void A_symlink_resolves_inside_the_container_root(string target)
    {
        File.WriteAllText(Etc("shadow"), "app:x:4242:4242::/home/app:/bin/sh\n");
        File.CreateSymbolicLink(Etc("passwd"), target);

        var file = ContainedPath.ReadFile(_root, "etc/passwd");
        Assert.Equal("app:x:4242:4242::/home/app:/bin/sh\n", Encoding.UTF8.GetString(file.Content!));
        Assert.Equal(4242u, ContainerUser.Resolve("app", _root).Uid);
    }

    [Fact]
    public void A_symlinked_etc_pointing_at_the_hosts_etc_never_reads_a_host_file()
    {
        Directory.Delete(Path.Combine(_root, "etc"));
        File.CreateSymbolicLink(Path.Combine(_root, "etc"), "/etc"); // inside the root, /etc is this very link

        var file = ContainedPath.ReadFile(_root, "etc/passwd");
        Assert.Null(file.Content);
        Assert.NotNull(file.Problem);
        Assert.Throws<ComputeException>(() => ContainerUser.Resolve("root", _root)); // the host's root user is not the container's
        Assert.Equal("0", ContainerUser.NameLookup(_root)(0));
    }

    [Fact]
    public void A_proc_magic_link_does_not_lead_out()
    {
        Directory.CreateDirectory(Path.Combine(_root, "proc"));
        File.CreateSymbolicLink(Etc("passwd"), "/proc/self/root/etc/passwd");
        Assert.Null(ContainedPath.ReadFile(_root, "etc/passwd").Content);
    }

    [Fact]
    public void An_oversized_file_is_refused_and_one_within_the_bound_is_read()
    {
        using (var f = new FileStream(Etc("passwd"), FileMode.Create))
        {
            f.SetLength(ContainedPath.MaxContainerFileBytes + 1L);
        }

        var refused = ContainedPath.ReadFile(_root, "etc/passwd");
        Assert.Null(refused.Content);
        Assert.Contains("more than", refused.Problem);

        File.WriteAllText(Etc("group"), "staff:x:50:app\n");
        Assert.Equal(15, ContainedPath.ReadFile(_root, "etc/group", maxBytes: 15).Content!.Length);
        Assert.Contains("more than", ContainedPath.ReadFile(_root, "etc/group", maxBytes: 14).Problem);
    }

    [Fact]
    public void Directories_and_missing_files_are_told_apart()
    {
        Directory.CreateDirectory(Etc("passwd"));
        Assert.Contains("a directory", ContainedPath.ReadFile(_root, "etc/passwd").Problem);
        Assert.Equal(ContainedFile.Missing, ContainedPath.ReadFile(_root, "etc/group"));
        Assert.Equal(ContainedFile.Missing, ContainedPath.ReadFile(_root, "etc/passwd/x"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
