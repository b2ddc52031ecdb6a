using System.Security.Claims;
using Portal.Agent.Auth;
using Portal.Compute;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests.Auth;

/// <summary>What each scope sees of the host's processes (unit tier): Read sees no host command line, not even through match.</summary>
public sealed class HostProcessVisibilityTests
{
    private static readonly HostProcessInfo HostDaemon = Process(10, "mysqld", "mysqld --password=hunter2-secret");
    private static readonly HostProcessInfo InContainer = Process(20, "sleep", "sleep 300") with { ContainerId = "c1", ContainerName = "web", ContainerPid = 1 };
    private static readonly HostProcessInfo VmWorker = Process(30, "qemu-system-x86", "qemu-system-x86_64 -name vmwp-c2") with { ContainerId = "c2", ContainerName = "vm", IsVmWorker = true };

    private static HostProcessInfo Process(int pid, string name, string commandLine) => new()
    {
        Pid = pid, ParentPid = 1, User = "root", Name = name, CommandLine = commandLine, CpuSeconds = 1, MemoryBytes = 1024,
    };

    private static ClaimsPrincipal Key(ApiScope scope) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "12345678"), new Claim(ApiKeyAuthenticationHandler.ScopeClaim, scope.ToString())], "ApiKey"));

    [Fact]
    public void Read_sees_every_process_but_host_command_lines()
    {
        var seen = HostProcessVisibility.Find(new Table(), null, Key(ApiScope.Read));
        Assert.Equal([10, 20, 30], seen.Select(p => p.Pid));
        Assert.Equal("", seen.Single(p => p.Pid == 10).CommandLine);
        Assert.Equal("mysqld", seen.Single(p => p.Pid == 10).Name);
        Assert.Equal("sleep 300", seen.Single(p => p.Pid == 20).CommandLine); // inside a container: Read may inspect it anyway
        Assert.Equal("", seen.Single(p => p.Pid == 30).CommandLine);
        Assert.Equal("c2", seen.Single(p => p.Pid == 30).ContainerId);
    }

    [Fact]
    public void Read_cannot_probe_host_command_lines_through_match()
    {
        Assert.Empty(HostProcessVisibility.Find(new Table(), "hunter2", Key(ApiScope.Read)));
        Assert.Equal([10], HostProcessVisibility.Find(new Table(), "mysql", Key(ApiScope.Read)).Select(p => p.Pid));
        Assert.Equal([20], HostProcessVisibility.Find(new Table(), "300", Key(ApiScope.Read)).Select(p => p.Pid));
    }

    [Theory]
    [InlineData(ApiScope.Operate)]
    [InlineData(ApiScope.Admin)]
    public void Operate_and_admin_see_command_lines(ApiScope scope)
    {
        var seen = HostProcessVisibility.Find(new Table(), null, Key(scope));
        Assert.Equal("mysqld --password=hunter2-secret", seen.Single(p => p.Pid == 10).CommandLine);
        Assert.Equal("qemu-system-x86_64 -name vmwp-c2", seen.Single(p => p.Pid == 30).CommandLine);
        Assert.Equal([10], HostProcessVisibility.Find(new Table(), "hunter2", Key(scope)).Select(p => p.Pid));
    }

    [Fact]
    public void The_isolation_view_hides_the_vm_workers_command_line_from_read()
    {
        var view = new IsolationView
        {
            Container = new ContainerInfo
            {
                Id = "c2", Name = "vm", Image = "busybox", ImageId = "i", State = ContainerState.Running, RuntimeType = RuntimeType.HyperV, CreatedAt = DateTimeOffset.UnixEpoch,
                Command = [], Environment = [], Limits = new ContainerLimits(), Labels = new Dictionary<string, string>(),
            },
            Inside = [],
            SeenFromHost = [VmWorker],
        };
        Assert.Equal("", HostProcessVisibility.For(view, Key(ApiScope.Read)).SeenFromHost.Single().CommandLine);
        Assert.Equal(VmWorker.CommandLine, HostProcessVisibility.For(view, Key(ApiScope.Operate)).SeenFromHost.Single().CommandLine);
        // The local socket's callers are admins.
        Assert.True(HostProcessVisibility.MaySeeHostCommandLines(Key(ApiScope.Admin)));
        Assert.False(HostProcessVisibility.MaySeeHostCommandLines(new ClaimsPrincipal()));
    }

    private sealed class Table : IHostProcessView
    {
        public IReadOnlyList<ComputeSystemInfo> EnumerateComputeSystems(ComputeSystemQuery? query = null) => [];

        public IReadOnlyList<HostProcessInfo> FindHostProcesses(string? match = null) =>
            new[] { HostDaemon, InContainer, VmWorker }
                .Where(p => match is null || p.Name.Contains(match, StringComparison.OrdinalIgnoreCase) || p.CommandLine.Contains(match, StringComparison.OrdinalIgnoreCase))
                .ToList();

        public Task<IsolationView> GetIsolationViewAsync(string idOrName, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
