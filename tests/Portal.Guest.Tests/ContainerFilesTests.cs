using System.Diagnostics;
using Portal.Guest.Processes;

namespace Portal.Guest.Tests;

/// <summary>What the guest agent reads of the container's own files cannot block it or make it read without end.</summary>
public sealed class ContainerFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portal-guest-files-").FullName;

    [Fact]
    public void A_regular_file_is_read_whole()
    {
        var path = Path.Combine(_dir, "passwd");
        File.WriteAllText(path, "root:x:0:0:root:/root:/bin/sh\n");
        Assert.Equal("root:x:0:0:root:/root:/bin/sh\n", ContainerFiles.ReadOrEmpty(path));
    }

    [Fact]
    public async Task A_fifo_reads_as_empty_at_once_instead_of_waiting_for_a_writer()
    {
        var path = Path.Combine(_dir, "passwd");
        using (var mkfifo = Process.Start("mkfifo", [path]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        // A blocking open would never return: no writer ever comes.
        Assert.Equal("", await Task.Run(() => ContainerFiles.ReadOrEmpty(path)).WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void A_device_without_end_or_a_huge_file_reads_as_empty()
    {
        Assert.Equal("", ContainerFiles.ReadOrEmpty("/dev/zero"));
        var huge = Path.Combine(_dir, "group");
        using (var file = File.Create(huge))
        {
            file.SetLength(ContainerFiles.MaxBytes + 1);
        }

        Assert.Equal("", ContainerFiles.ReadOrEmpty(huge));
        Assert.Equal("", ContainerFiles.ReadOrEmpty(Path.Combine(_dir, "missing")));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
