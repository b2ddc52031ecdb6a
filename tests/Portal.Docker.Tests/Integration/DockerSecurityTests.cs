namespace Portal.Docker.Tests.Integration;

/// <summary>
/// docker's security flags with the real CLI against the agent: honoured in the running container (capabilities,
/// read-only root, ulimits, tmpfs, for exec'd processes too), or refused with a 400 whose message the CLI prints.
/// Before issue 13, `--cap-drop ALL --read-only` got 14 capabilities and a writable root.
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerSecurityTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task Cap_drop_all_and_read_only_leave_no_capabilities_and_no_writable_root()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=process", "--cap-drop", "ALL", "--read-only", "busybox", "sh", "-c", "grep Cap /proc/self/status; touch /x; echo touch=$?");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("CapEff:\t0000000000000000", run.Stdout);
        Assert.Contains("CapPrm:\t0000000000000000", run.Stdout);
        Assert.Contains("CapBnd:\t0000000000000000", run.Stdout);
        Assert.Contains("touch=1", run.Stdout);
        Assert.Contains("Read-only file system", run.Stderr);
    }

    [RootFact]
    public async Task Without_flags_the_container_keeps_dockers_14_capabilities_and_a_writable_root()
    {
        var run = await Agent.DockerAsync("run", "--rm", "busybox", "sh", "-c", "grep CapEff /proc/self/status; touch /x && echo wrote");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("CapEff:\t00000000a80425fb", run.Stdout); // Docker's default set
        Assert.Contains("wrote", run.Stdout);
    }

    [RootFact]
    public async Task Cap_add_within_policy_is_honoured_and_beyond_it_is_400()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--cap-drop", "ALL", "--cap-add", "net_bind_service", "busybox", "grep", "CapEff", "/proc/self/status");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("CapEff:\t0000000000000400", run.Stdout);

        var admin = await Agent.DockerAsync("run", "--rm", "--isolation=process", "--cap-add", "SYS_ADMIN", "busybox", "true");
        Assert.Equal(125, admin.ExitCode);
        Assert.Contains("Adding CAP_SYS_ADMIN is not allowed under process isolation", admin.Stderr);
    }

    [RootFact]
    public async Task Exec_processes_get_the_containers_capabilities_and_limits()
    {
        var name = "sec-exec-" + Guid.NewGuid().ToString("N")[..8];
        var run = await Agent.DockerAsync("run", "-d", "--name", name, "--cap-drop", "ALL", "--ulimit", "nproc=77:77", "busybox", "sleep", "120");
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            var exec = await Agent.DockerAsync("exec", name, "sh", "-c", "grep CapEff /proc/self/status; ulimit -u");
            Assert.True(exec.ExitCode == 0, exec.ToString());
            Assert.Contains("CapEff:\t0000000000000000", exec.Stdout);
            Assert.Contains("\n77", "\n" + exec.Stdout);

            var inspect = await Agent.DockerAsync("inspect", "-f", "{{json .HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Ulimits}}", name);
            Assert.Equal("""["ALL"] false [{"Name":"nproc","Hard":77,"Soft":77}]""", inspect.Stdout.Trim());
        }
        finally
        {
            await Agent.DockerAsync("rm", "-f", name);
        }
    }

    [RootFact]
    public async Task Ulimit_nofile_applies()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("1024\n2048\n", run.Stdout);
    }

    [RootFact]
    public async Task Tmpfs_gives_a_writable_place_in_a_read_only_root_with_its_size_and_flags()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--read-only", "--tmpfs", "/run", "--tmpfs", "/scratch:size=1m,mode=700", "busybox", "sh", "-c",
            "echo ok > /run/f && cat /run/f; grep -E ' /(run|scratch) ' /proc/mounts; stat -c %a /scratch");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("ok\n", run.Stdout);
        Assert.Matches(@"tmpfs /run tmpfs rw,nosuid,nodev,noexec", run.Stdout);
        Assert.Matches(@"tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,[^\n]*size=1024k", run.Stdout);
        Assert.EndsWith("700\n", run.Stdout);
    }

    [RootTheory]
    [InlineData("--privileged", "privileged containers (--privileged) are not supported by this engine")]
    [InlineData("--device=/dev/loop0", "host devices (--device, --device-cgroup-rule) are not supported by this engine")]
    [InlineData("--pid=host", "--pid host is not supported by this engine")]
    [InlineData("--userns=host", "--userns host is not supported by this engine")]
    [InlineData("--security-opt=seccomp=unconfined", "seccomp=unconfined is not allowed by this engine")]
    [InlineData("--security-opt=no-new-privileges=false", "no-new-privileges cannot be turned off under process isolation")]
    [InlineData("--security-opt=apparmor=unconfined", "apparmor=unconfined is not allowed")]
    [InlineData("--ulimit=rtprio=10", "The rtprio ulimit is not allowed")]
    [InlineData("--tmpfs=/proc/x", "A tmpfs cannot be mounted at /proc/x")]
    [InlineData("--tmpfs=/etc/passwd", "A tmpfs cannot be mounted at /etc/passwd: it is a file in the image")]
    [InlineData("--ulimit=nofile=3:3", "The nofile ulimit must be at least 16")]
    public async Task What_cannot_be_honoured_is_refused_with_the_reason(string flag, string message)
    {
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=process", flag, "busybox", "true");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [RootFact]
    public async Task Vm_isolation_accepts_cap_add_because_the_guests_root_already_holds_it()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=hyperv", "--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status");

        Assert.True(run.ExitCode == 0, run.ToString());
        var mask = Convert.ToUInt64(run.Stdout.Split('\t')[1].Trim(), 16);
        Assert.True((mask & (1UL << 21)) != 0, $"CAP_SYS_ADMIN is not held inside the VM: {run.Stdout}");
    }

    [RootFact]
    public async Task Vm_isolation_refuses_read_only_and_cap_drop_instead_of_ignoring_them()
    {
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=hyperv", "--read-only", "--cap-drop", "ALL", "busybox", "true");

        Assert.Equal(125, run.ExitCode);
        Assert.Contains("--cap-drop, --read-only are not supported with VM isolation (HyperV)", run.Stderr);
    }

    [RootTheory]
    [InlineData("--ulimit=nofile=0:0")]
    [InlineData("--ulimit=nofile=3:3")]
    [InlineData("--ulimit=nproc=0:0")]
    [InlineData("--ulimit=stack=0:0")]
    [InlineData("--ulimit=fsize=0:0")]
    [InlineData("--ulimit=memlock=-1:-1")]
    [InlineData("--tmpfs=/etc/passwd")]
    public async Task Extreme_options_start_or_are_refused_but_never_fail_in_the_engine(string flag)
    {
        var run = await Agent.DockerAsync("run", "--rm", "--isolation=process", flag, "busybox", "true");

        // The container's own process may die of its limits (as under Docker); the engine must not fail on them.
        Assert.False(run.Stderr.Contains("Error response from daemon: runc", StringComparison.Ordinal) || run.Stderr.Contains("Error response from daemon: crun", StringComparison.Ordinal), run.ToString());
        Assert.True(run.ExitCode != 125 || run.Stderr.Contains("Error response from daemon: ", StringComparison.Ordinal), run.ToString());
    }

    [RootTheory]
    [InlineData("""{"Image":"busybox","Cmd":["no-such-program"]}""", "no-such-program")]
    [InlineData("""{"Image":"busybox","Cmd":["/etc"]}""", "/etc")]
    [InlineData("""{"Image":"busybox","Cmd":["sh"],"HostConfig":{"Tmpfs":{"/bin":""}}}""", "sh")]
    public async Task A_program_that_cannot_run_is_the_containers_fault_not_the_engines(string body, string named)
    {
        // dockerd answers 400 (invalid configuration) and the CLI exits 127 or 126; this engine answered 500.
        var name = "sec-cmd-" + Guid.NewGuid().ToString("N")[..8];
        using var create = await Agent.Http.PostAsync($"containers/create?name={name}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Created, create.StatusCode);
        try
        {
            using var start = await Agent.Http.PostAsync($"containers/{name}/start", null);
            var text = await start.Content.ReadAsStringAsync();

            Assert.True(start.StatusCode == System.Net.HttpStatusCode.BadRequest, $"{(int)start.StatusCode} {text}");
            Assert.Contains(named, text);
        }
        finally
        {
            await Agent.Http.DeleteAsync($"containers/{name}?force=1");
        }
    }
}
