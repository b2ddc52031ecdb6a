using System.Text.Json;

namespace Portal.Docker.Tests.Integration;

/// <summary>The real docker CLI (28.x, client only) against the agent's docker socket.</summary>
[Trait("Requires", "root")]
public sealed class DockerCliTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task Version_and_info_describe_this_engine_and_its_isolations()
    {
        var version = await Agent.DockerAsync("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Equal("1.50 linux", version.Stdout.Trim());

        var info = await Agent.DockerAsync("info", "--format", "{{json .}}");
        Assert.True(info.ExitCode == 0, info.ToString());
        using var doc = JsonDocument.Parse(info.Stdout);
        var root = doc.RootElement;
        Assert.Equal("linux", root.GetProperty("OSType").GetString());
        Assert.Equal("process", root.GetProperty("Isolation").GetString());
        Assert.True(root.GetProperty("NCPU").GetInt32() > 0);
        Assert.True(root.GetProperty("MemTotal").GetInt64() > 0);
        Assert.NotEmpty(root.GetProperty("Runtimes").EnumerateObject());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("KernelVersion").GetString()));

        var mode = File.GetUnixFileMode(Agent.SocketPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, mode);
    }

    [RootFact]
    public async Task Run_rm_prints_the_output_and_propagates_the_exit_code()
    {
        var hi = await Agent.DockerAsync("run", "--rm", "--isolation=process", "busybox", "echo", "hi");
        Assert.True(hi.ExitCode == 0, hi.ToString());
        Assert.Equal("hi\n", hi.Stdout);

        var three = await Agent.DockerAsync("run", "--rm", "busybox", "sh", "-c", "echo to-err >&2; exit 3");
        Assert.Equal(3, three.ExitCode);
        Assert.Contains("to-err", three.Stderr);

        var piped = await Agent.DockerWithInputAsync("line one\nline two\n", "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo end");
        Assert.True(piped.ExitCode == 0, piped.ToString());
        Assert.Equal("line one\nline two\nend\n", piped.Stdout);

        // --rm is done by the engine: nothing is left.
        var all = await Agent.DockerAsync("ps", "-a", "--no-trunc", "--format", "{{.Command}}");
        Assert.DoesNotContain("echo hi", all.Stdout);
        Assert.DoesNotContain("exit 3", all.Stdout);
    }

    [RootFact]
    public async Task Log_options_are_honoured_shown_by_inspect_and_other_drivers_refused()
    {
        var run = await Agent.DockerAsync("run", "-d", "--name", "logopts", "--log-opt", "max-size=64k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "seq 1 5000; echo last");
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            var config = await Agent.DockerAsync("inspect", "-f", "{{json .HostConfig.LogConfig}}", "logopts");
            Assert.True(config.ExitCode == 0, config.ToString());
            Assert.Equal("""{"Type":"json-file","Config":{"max-file":"2","max-size":"65536"}}""", config.Stdout.Trim());

            var waited = await Agent.DockerAsync("wait", "logopts");
            Assert.Equal("0", waited.Stdout.Trim());
            var tail = await Agent.DockerAsync("logs", "--tail", "2", "logopts");
            Assert.Equal("5000\nlast\n", tail.Stdout);
        }
        finally
        {
            await Agent.DockerAsync("rm", "-f", "logopts");
        }

        var syslog = await Agent.DockerAsync("run", "--rm", "--log-driver", "syslog", "busybox", "true");
        Assert.NotEqual(0, syslog.ExitCode);
        Assert.Contains("logging driver \"syslog\" is not supported by this engine", syslog.Stderr);

        var compress = await Agent.DockerAsync("create", "--log-opt", "compress=true", "busybox", "true");
        Assert.NotEqual(0, compress.ExitCode);
        Assert.Contains("unknown log opt 'compress'", compress.Stderr);
    }

    [RootFact]
    public async Task Run_it_is_interactive_through_a_pty()
    {
        var session = await Agent.UnderPtyAsync(
            "docker run -it --rm busybox sh",
            (TimeSpan.FromSeconds(2), "echo tty-ok $((6*7))\r"),
            (TimeSpan.FromSeconds(1), "tty\r"),
            (TimeSpan.FromSeconds(1), "exit 4\r"));
        Assert.True(session.ExitCode == 4, session.ToString());
        Assert.Contains("tty-ok 42", session.Stdout);
        Assert.Contains("/dev/", session.Stdout);
    }

    [RootFact]
    public async Task A_detached_container_can_be_listed_inspected_execed_logged_topped_and_removed()
    {
        var name = "web-" + Guid.NewGuid().ToString("N")[..8];
        var run = await Agent.DockerAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
        Assert.True(run.ExitCode == 0, run.ToString());
        var id = run.Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);

        var ps = await Agent.DockerAsync("ps", "--format", "{{.Names}} {{.Label \"io.portal.isolation\"}} {{.Status}}");
        Assert.Contains($"{name} process Up", ps.Stdout);

        var isolation = await Agent.DockerAsync("inspect", "-f", "{{.HostConfig.Isolation}} {{.State.Running}} {{.Name}}", name);
        Assert.Equal($"process true /{name}", isolation.Stdout.Trim());

        var exec = await Agent.DockerAsync("exec", name, "sh", "-c", "echo from-exec; exit 7");
        Assert.Equal(7, exec.ExitCode);
        Assert.Equal("from-exec\n", exec.Stdout);

        var execInput = await Agent.DockerWithInputAsync("fed\n", "exec", "-i", name, "cat");
        Assert.Equal("fed\n", execInput.Stdout);

        var execTty = await Agent.UnderPtyAsync(
            $"docker exec -it {name} sh",
            (TimeSpan.FromSeconds(1), "echo exec-tty $((6*7)); tty\r"),
            (TimeSpan.FromSeconds(1), "exit 9\r"));
        Assert.True(execTty.ExitCode == 9, execTty.ToString());
        Assert.Contains("exec-tty 42", execTty.Stdout);
        Assert.Contains("/dev/pts/", execTty.Stdout);

        var logs = await Agent.DockerAsync("logs", "--tail", "2", name);
        Assert.Equal(2, logs.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var all = await Agent.DockerAsync("logs", "-t", name);
        Assert.StartsWith("20", all.Stdout); // timestamps first
        Assert.Contains("started", all.Stdout);

        // docker top: host PIDs for process isolation, as dockerd shows them.
        var top = await Agent.DockerAsync("top", name);
        Assert.True(top.ExitCode == 0, top.ToString());
        var firstPid = int.Parse(top.Stdout.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(1, firstPid);
        Assert.True(File.Exists($"/proc/{firstPid}/status"), $"PID {firstPid} from docker top is not a host PID");
        Assert.Contains("sh -c", top.Stdout);

        var stats = await Agent.DockerAsync("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name);
        Assert.True(stats.ExitCode == 0, stats.ToString());
        Assert.StartsWith(name, stats.Stdout.Trim());

        // logs -f follows until the container stops.
        var follow = Agent.DockerAsync("logs", "-f", name);
        await Task.Delay(700);
        var stop = await Agent.DockerAsync("stop", "-t", "1", name);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        var followed = await follow.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("tick", followed.Stdout);

        var exited = await Agent.DockerAsync("ps", "-a", "--filter", $"name={name}", "--format", "{{.Status}}");
        Assert.StartsWith("Exited (", exited.Stdout.Trim());

        var rm = await Agent.DockerAsync("rm", "-f", name);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        var gone = await Agent.DockerAsync("inspect", name);
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("No such", gone.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [RootFact]
    public async Task Rm_f_kills_a_running_container_and_ps_shows_both_states()
    {
        var running = "run-" + Guid.NewGuid().ToString("N")[..8];
        var done = "done-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await Agent.DockerAsync("run", "-d", "--name", running, "busybox", "sleep", "300")).ExitCode);
        Assert.Equal(0, (await Agent.DockerAsync("run", "--name", done, "busybox", "true")).ExitCode);

        var running1 = await Agent.DockerAsync("ps", "--format", "{{.Names}}");
        Assert.Contains(running, running1.Stdout);
        Assert.DoesNotContain(done, running1.Stdout);
        var all = await Agent.DockerAsync("ps", "-a", "--format", "{{.Names}}");
        Assert.Contains(done, all.Stdout);

        var refused = await Agent.DockerAsync("rm", running);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("running", refused.Stderr);

        Assert.Equal(0, (await Agent.DockerAsync("rm", "-f", running, done)).ExitCode);
        var after = await Agent.DockerAsync("ps", "-a", "--format", "{{.Names}}");
        Assert.DoesNotContain(running, after.Stdout);
        Assert.DoesNotContain(done, after.Stdout);
    }

    [RootFact]
    public async Task Isolation_hyperv_is_passed_through_and_unknown_isolations_are_refused()
    {
        // VM isolation: the container runs in its own VM (the guest kernel answers uname).
        var hyperv = await Agent.DockerAsync("run", "--rm", "--isolation=hyperv", "busybox", "sh", "-c", "echo hi; uname -r");
        Assert.True(hyperv.ExitCode == 0, hyperv.ToString());
        Assert.StartsWith("hi\n", hyperv.Stdout);
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), hyperv.Stdout.Split('\n')[1]);

        var bogus = await Agent.DockerAsync("run", "--rm", "--isolation=sandboxed", "busybox", "true");
        Assert.NotEqual(0, bogus.ExitCode);
        Assert.Contains("invalid isolation", bogus.Stderr);
    }

    [RootFact]
    public async Task Load_a_docker_save_archive_then_tag_list_and_remove_it()
    {
        var repo = "loaded-" + Guid.NewGuid().ToString("N")[..8];
        var archive = Path.Combine(Agent.ConfigDirectory, repo + ".tar");
        await File.WriteAllBytesAsync(archive, DockerSaveArchive.Build($"{repo}:v1"));

        var load = await Agent.DockerAsync("load", "-i", archive);
        Assert.True(load.ExitCode == 0, load.ToString());
        Assert.Contains($"Loaded image: {repo}:v1", load.Stdout);

        var tag = await Agent.DockerAsync("tag", $"{repo}:v1", $"{repo}:v2");
        Assert.True(tag.ExitCode == 0, tag.ToString());
        var images = await Agent.DockerAsync("images", "--format", "{{.Repository}}:{{.Tag}}");
        Assert.Contains($"{repo}:v1", images.Stdout);
        Assert.Contains($"{repo}:v2", images.Stdout);

        var untag = await Agent.DockerAsync("rmi", $"{repo}:v2");
        Assert.True(untag.ExitCode == 0, untag.ToString());
        Assert.Contains($"Untagged: {repo}:v2", untag.Stdout);

        // A container using the image keeps it: 409 until the container goes (or force).
        var user = "user-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await Agent.DockerAsync("create", "--name", user, $"{repo}:v1")).ExitCode);
        var conflict = await Agent.DockerAsync("rmi", $"{repo}:v1");
        Assert.NotEqual(0, conflict.ExitCode);
        Assert.Contains("conflict", conflict.Stderr);
        Assert.Equal(0, (await Agent.DockerAsync("rm", user)).ExitCode);

        var rmi = await Agent.DockerAsync("rmi", $"{repo}:v1");
        Assert.True(rmi.ExitCode == 0, rmi.ToString());
        Assert.Contains("Deleted: sha256:", rmi.Stdout);
        var after = await Agent.DockerAsync("images", "--format", "{{.Repository}}");
        Assert.DoesNotContain(repo, after.Stdout);
    }

    [RootFact]
    public async Task Unknown_images_and_unsupported_commands_fail_clearly()
    {
        // Not here: the CLI asks the engine to pull it, and the engine says why it cannot (a registry nobody serves, so
        // that the answer does not depend on this machine's internet access).
        var nobody = $"127.0.0.1:{FreeTcpPort.Next()}";
        var missing = await Agent.DockerAsync("run", "--rm", $"{nobody}/no-such-image:1", "true");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("Unable to find image", missing.Stderr);
        Assert.Contains($"{nobody} cannot be reached", missing.Stderr);

        var volumes = await Agent.DockerAsync("volume", "ls");
        Assert.NotEqual(0, volumes.ExitCode);
        Assert.Contains("not supported by this engine", volumes.Stderr);
    }

    [RootFact]
    public async Task Networks_are_virtual_switches_with_names_published_ports_and_clear_conflicts()
    {
        var created = await Agent.DockerAsync("network", "create", "lab-net");
        Assert.True(created.ExitCode == 0, created.ToString());
        var duplicate = await Agent.DockerAsync("network", "create", "lab-net");
        Assert.NotEqual(0, duplicate.ExitCode);
        Assert.Contains("already exists", duplicate.Stderr);

        var list = await Agent.DockerAsync("network", "ls", "--format", "{{.Name}} {{.Driver}}");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("lab-net bridge", list.Stdout);
        Assert.Contains("NAT bridge", list.Stdout);
        Assert.Contains("none null", list.Stdout);
        var subnet = (await Agent.DockerAsync("network", "inspect", "lab-net", "-f", "{{(index .IPAM.Config 0).Subnet}}")).Stdout.Trim();
        Assert.Matches(@"^\d+\.\d+\.\d+\.0/24$", subnet);

        var port = FreeTcpPort.Next();
        var web = await Agent.DockerAsync("run", "-d", "--name", "web", "--network", "lab-net", "-p", $"127.0.0.1:{port}:80", "busybox",
            "sh", "-c", "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www");
        Assert.True(web.ExitCode == 0, web.ToString());
        var address = (await Agent.DockerAsync("inspect", "web", "-f", "{{.NetworkSettings.IPAddress}} {{.HostConfig.NetworkMode}}")).Stdout.Trim();
        Assert.EndsWith(" lab-net", address);
        var ports = await Agent.DockerAsync("ps", "--format", "{{.Names}} {{.Ports}}");
        Assert.Contains($"web 127.0.0.1:{port}->80/tcp", ports.Stdout);

        // The host reaches the published port; another container reaches web by name.
        using var http = new HttpClient();
        string? body = null;
        for (var i = 0; i < 20 && body is null; i++)
        {
            try
            {
                body = await http.GetStringAsync($"http://127.0.0.1:{port}/");
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }

        Assert.Equal("hello-web\n", body);
        var byName = await Agent.DockerAsync("run", "--rm", "--network", "lab-net", "busybox", "wget", "-q", "-O", "-", "http://web/");
        Assert.True(byName.ExitCode == 0, byName.ToString());
        Assert.Equal("hello-web\n", byName.Stdout);

        var taken = await Agent.DockerAsync("run", "-d", "--network", "lab-net", "-p", $"127.0.0.1:{port}:80", "busybox", "true");
        Assert.NotEqual(0, taken.ExitCode);
        Assert.Contains($"Host port {port} is already published by container 'web'", taken.Stderr);
        var inUse = await Agent.DockerAsync("network", "rm", "lab-net");
        Assert.NotEqual(0, inUse.ExitCode);
        Assert.Contains("is used by", inUse.Stderr);

        Assert.Equal(0, (await Agent.DockerAsync("rm", "-f", "web")).ExitCode);
        var removed = await Agent.DockerAsync("network", "rm", "lab-net");
        Assert.True(removed.ExitCode == 0, removed.ToString());
        var missing = await Agent.DockerAsync("network", "inspect", "lab-net");
        Assert.NotEqual(0, missing.ExitCode);
    }
}
