using Portal.Guest.Containers;
using Portal.Guest.Processes;

namespace Portal.Guest.Tests;

public sealed class ProcessInfoTests
{
    [Fact]
    public void Parses_a_stat_line_whose_name_has_spaces_and_parentheses()
    {
        var line = "123 (my (odd) name) S 1 123 123 34816 123 4194560 100 0 0 0 250 75 10 5 20 0 1 0 4242 4112384 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        var stat = ProcStat.Parse(line)!;
        Assert.Equal((123, "my (odd) name", 1, 250L, 75L, 10L, 5L, 321L), (stat.Pid, stat.Name, stat.ParentPid, stat.UserTicks, stat.SystemTicks, stat.ChildUserTicks, stat.ChildSystemTicks, stat.RssPages));
        Assert.False(stat.IsKernelThread);
    }

    [Fact]
    public void Recognizes_kernel_threads()
    {
        var kthread = ProcStat.Parse("15 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 0 3 0 0 20 0 1 0 30 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0")!;
        Assert.True(kthread.IsKernelThread);
        Assert.Null(ProcStat.Parse("garbage"));
    }

    [Fact]
    public void Memory_comes_from_meminfo()
    {
        var (total, available) = ProcessTable.ParseMemInfo("MemTotal:         228974 kB\nMemFree:  1000 kB\nMemAvailable:     200000 kB\n");
        Assert.Equal((228974L * 1024, 200000L * 1024), (total, available));
    }

    [Fact]
    public void Environment_gets_engine_defaults_without_overriding_the_request()
    {
        var env = ProcessEnvironment.Build(["PATH=/opt/bin", "A=1", "A=2", "B"], new ResolvedUser(1000, 1000, [], "app", "/home/app"), "box", tty: true);
        Assert.Equal(["PATH=/opt/bin", "A=1", "B=", "HOSTNAME=box", "HOME=/home/app", "TERM=xterm"], env);
        Assert.Equal("/opt/bin", ProcessEnvironment.Get(env, "PATH"));
    }

    [Fact]
    public void Executables_are_found_on_the_process_path()
    {
        var present = new HashSet<string> { "/usr/bin/sh", "/work/run.sh", "/bin/ls" };
        Assert.Equal("/usr/bin/sh", ProcessEnvironment.ResolveExecutable("sh", "/usr/local/bin:/usr/bin:/bin", "/", present.Contains));
        Assert.Equal("/bin/ls", ProcessEnvironment.ResolveExecutable("ls", null, "/", present.Contains));
        Assert.Equal("/work/run.sh", ProcessEnvironment.ResolveExecutable("./run.sh", "/bin", "/work", present.Contains));
        var e = Assert.Throws<GuestException>(() => ProcessEnvironment.ResolveExecutable("nope", "/bin", "/", present.Contains));
        Assert.Contains("executable file not found in $PATH", e.Message, StringComparison.Ordinal);
    }
}
