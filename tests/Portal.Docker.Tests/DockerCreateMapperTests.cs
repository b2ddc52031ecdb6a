using System.Text.Json;
using Portal.Contracts;

namespace Portal.Docker.Tests;

/// <summary>The create body as docker sends it, turned into a spec; what this engine cannot honour is a 400 in dockerd's words.</summary>
public sealed class DockerCreateMapperTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("default", null)]
    [InlineData(" DEFAULT ", null)]
    [InlineData("process", RuntimeType.Default)]
    [InlineData("Process", RuntimeType.Default)]
    [InlineData("hyperv", RuntimeType.HyperV)]
    public void Isolation_maps_to_a_runtime_type_or_the_host_default(string? isolation, RuntimeType? expected)
    {
        var spec = Map(new { Image = "busybox", HostConfig = new { Isolation = isolation } });

        Assert.Equal(expected, spec.RuntimeType);
    }

    [Theory]
    [InlineData("xen")]
    [InlineData("hyper-v")]
    [InlineData("process\0")]
    public void Unknown_isolation_is_400(string isolation)
    {
        var e = Refused(new { Image = "busybox", HostConfig = new { Isolation = isolation } });

        Assert.Equal($"invalid isolation: \"{isolation}\": use process, hyperv or default", e.Message);
    }

    [Fact]
    public void Env_entries_pass_through_in_order()
    {
        var spec = Map(new { Image = "busybox", Env = new[] { "A=1", "B=", "C=x=y" } });

        Assert.Equal(["A=1", "B=", "C=x=y"], spec.Environment);
    }

    [Theory]
    [InlineData("""{"Image":"busybox","Env":["A=1",null]}""", "invalid Env: entries must be strings of the form NAME=value, not null")]
    [InlineData("""{"Image":"busybox","Env":["A=\u0000"]}""", "invalid Env: it contains a NUL character")]
    [InlineData("""{"Image":"busy\u0000box"}""", "invalid Image: it contains a NUL character")]
    [InlineData("""{"Image":"busybox","Cmd":["sh","\u0000"]}""", "invalid Cmd: it contains a NUL character")]
    [InlineData("""{"Image":"busybox","Labels":{"a\u0000":"b"}}""", "invalid Labels: it contains a NUL character")]
    [InlineData("""{"Image":"busybox","WorkingDir":"/\u0000"}""", "invalid WorkingDir: it contains a NUL character")]
    public void Nul_characters_and_null_entries_are_400(string json, string message)
    {
        var e = Assert.Throws<DockerApiException>(() => DockerCreateMapper.ToSpec(Parse(json), null));

        Assert.Equal(400, e.StatusCode);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_name_with_a_nul_is_400()
    {
        var e = Assert.Throws<DockerApiException>(() => DockerCreateMapper.ToSpec(Parse("""{"Image":"busybox"}"""), "we\0b"));

        Assert.Equal("invalid name: it contains a NUL character", e.Message);
    }

    public static TheoryData<string, PortMapping[]> PortCases() => new()
    {
        { """{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}""", [new PortMapping { HostPort = 8080, ContainerPort = 80, Protocol = "tcp" }] },
        { """{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}""", [new PortMapping { HostPort = 8080, ContainerPort = 80, Protocol = "tcp" }] },
        { """{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}""", [new PortMapping { HostIp = "127.0.0.1", HostPort = 8080, ContainerPort = 80, Protocol = "tcp" }] },
        { """{"80":[{"HostPort":""}]}""", [new PortMapping { HostPort = 0, ContainerPort = 80, Protocol = "tcp" }] },
        { """{"443/tcp":[]}""", [new PortMapping { ContainerPort = 443, Protocol = "tcp" }] },
        { """{"53/udp":null}""", [new PortMapping { ContainerPort = 53, Protocol = "udp" }] },
        { """{"80/tcp":[{"HostPort":"8080"},{"HostPort":"8081"}]}""", [new PortMapping { HostPort = 8080, ContainerPort = 80, Protocol = "tcp" }, new PortMapping { HostPort = 8081, ContainerPort = 80, Protocol = "tcp" }] },
        { "[]", [] },
        { "null", [] },
    };

    [Theory]
    [MemberData(nameof(PortCases))]
    public void Port_bindings_become_published_ports(string bindings, PortMapping[] expected)
    {
        var spec = DockerCreateMapper.ToSpec(WithHostConfig("{\"PortBindings\":" + bindings + "}"), null);

        Assert.Equal(expected, spec.Ports);
    }

    [Theory]
    [InlineData("""{"abc/tcp":[]}""", "invalid port \"abc/tcp\": use PORT or PORT/tcp")]
    [InlineData("""{"80/tcp/x":[]}""", "invalid port \"80/tcp/x\": use PORT or PORT/tcp")]
    [InlineData("""{"-80":[]}""", "invalid port \"-80\": use PORT or PORT/tcp")]
    [InlineData("""{"99999999999/tcp":[]}""", "invalid port \"99999999999/tcp\": use PORT or PORT/tcp")]
    [InlineData("""{"80/tcp":[{"HostPort":"8000-8010"}]}""", "invalid host port \"8000-8010\" for 80/tcp: port ranges are not supported, give one port")]
    [InlineData("""{"80/tcp":[{"HostPort":" 8080"}]}""", "invalid host port \" 8080\" for 80/tcp: port ranges are not supported, give one port")]
    public void Bad_ports_are_400(string bindings, string message)
    {
        var e = Assert.Throws<DockerApiException>(() => DockerCreateMapper.ToSpec(WithHostConfig("{\"PortBindings\":" + bindings + "}"), null));

        Assert.Equal(400, e.StatusCode);
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("""{"Memory":0}""", null, null, null)]
    [InlineData("""{"Memory":67108864}""", 67108864L, null, null)]
    [InlineData("""{"NanoCpus":1500000000}""", null, 1.5, null)]
    [InlineData("""{"CpuQuota":50000}""", null, 0.5, null)]
    [InlineData("""{"CpuQuota":50000,"CpuPeriod":25000}""", null, 2.0, null)]
    [InlineData("""{"PidsLimit":100}""", null, null, 100L)]
    [InlineData("""{"PidsLimit":-1}""", null, null, null)]
    [InlineData("""{"PidsLimit":0}""", null, null, null)]
    public void Limits_map_to_bytes_cores_and_pids(string hostConfig, long? memory, double? cpus, long? pids)
    {
        var spec = DockerCreateMapper.ToSpec(WithHostConfig(hostConfig), null);

        Assert.Equal(memory, spec.Limits.MemoryBytes);
        Assert.Equal(cpus, spec.Limits.Cpus);
        Assert.Equal(pids, spec.Limits.PidsLimit);
    }

    [Theory]
    [InlineData("""{"Memory":-1}""", "invalid Memory: -1 is negative")]
    [InlineData("""{"NanoCpus":-5}""", "invalid NanoCpus: -5 is negative")]
    [InlineData("""{"CpuQuota":-1}""", "invalid CpuQuota: -1 is negative")]
    [InlineData("""{"CpuQuota":1000,"CpuPeriod":-1}""", "invalid CpuPeriod: -1 is negative")]
    [InlineData("""{"NanoCpus":1000000000,"CpuQuota":50000}""", "Conflicting options: Nano CPUs and CPU Quota cannot both be set")]
    [InlineData("""{"Binds":["/:/host"]}""", "bind mounts and volumes (-v, --mount) are not supported by this engine")]
    [InlineData("""{"Mounts":[{"Type":"bind"}]}""", "bind mounts and volumes (-v, --mount) are not supported by this engine")]
    [InlineData("""{"PublishAllPorts":true}""", "publishing all exposed ports (-P) is not supported by this engine: publish each port with -p HOSTPORT:PORT")]
    [InlineData("""{"Privileged":true}""", "privileged containers (--privileged) are not supported by this engine: add the capabilities a container needs with --cap-add, or run it with --isolation=hyperv (without --privileged), where it holds every capability inside its own VM")]
    [InlineData("""{"NetworkMode":"host"}""", "--network host is not supported by this engine: containers get their own network; publish ports with -p")]
    [InlineData("""{"NetworkMode":"container:web"}""", "--network container:... is not supported by this engine")]
    public void Unsupported_or_bad_host_config_is_400(string hostConfig, string message)
    {
        var e = Assert.Throws<DockerApiException>(() => DockerCreateMapper.ToSpec(WithHostConfig(hostConfig), null));

        Assert.Equal(400, e.StatusCode);
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("""{"Binds":[]}""")]
    [InlineData("""{"Mounts":[]}""")]
    [InlineData("""{"Mounts":{}}""")]
    [InlineData("""{"Privileged":false,"PublishAllPorts":false}""")]
    public void Empty_or_false_unsupported_fields_are_accepted(string hostConfig) =>
        DockerCreateMapper.ToSpec(WithHostConfig(hostConfig), null);

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("default", null)]
    [InlineData("bridge", "bridge")]
    [InlineData("none", "none")]
    [InlineData("backend", "backend")]
    public void Network_mode_names_the_switch(string? mode, string? expected) =>
        Assert.Equal(expected, Map(new { Image = "busybox", HostConfig = new { NetworkMode = mode } }).SwitchName);

    [Fact]
    public void An_empty_entrypoint_clears_the_image_s_and_the_command_then_defaults_to_none()
    {
        var spec = Map(new { Image = "busybox", Entrypoint = new[] { "" } });

        Assert.Equal([], spec.Entrypoint);
        Assert.Equal([], spec.Command);
    }

    [Fact]
    public void No_entrypoint_and_no_cmd_take_the_image_s()
    {
        var spec = Map(new { Image = "busybox" });

        Assert.Null(spec.Entrypoint);
        Assert.Null(spec.Command);
    }

    [Fact]
    public void Auto_remove_is_kept_as_a_label_beside_the_user_s()
    {
        var spec = Map(new { Image = "busybox", Labels = new Dictionary<string, string?> { ["team"] = "x", ["empty"] = null }, HostConfig = new { AutoRemove = true } });

        Assert.Equal("true", spec.Labels[DockerEngine.AutoRemoveLabel]);
        Assert.Equal("x", spec.Labels["team"]);
        Assert.Equal("", spec.Labels["empty"]);
    }

    [Fact]
    public void Terminal_stdin_user_and_working_directory_pass_through()
    {
        var spec = Map(new { Image = "busybox", Tty = true, OpenStdin = true, User = "1000:1000", WorkingDir = "/srv" });

        Assert.True(spec.Tty);
        Assert.True(spec.OpenStdin);
        Assert.Equal("1000:1000", spec.User);
        Assert.Equal("/srv", spec.WorkingDirectory);
    }

    [Theory]
    [InlineData(null, null, null, null, null)]
    [InlineData("json-file", "10m", "3", 10L << 20, 3)]
    [InlineData("local", "512k", null, 512L << 10, null)]
    [InlineData("json-file", "1g", "1", 1L << 30, 1)]
    [InlineData("json-file", "65536", "100", 65536L, 100)]
    [InlineData("", "2MB", null, 2L << 20, null)]
    public void Log_options_max_size_and_max_file_become_the_log_rotation(string? driver, string? maxSize, string? maxFile, long? bytes, int? files)
    {
        var config = new Dictionary<string, string>();
        if (maxSize is not null)
        {
            config["max-size"] = maxSize;
        }

        if (maxFile is not null)
        {
            config["max-file"] = maxFile;
        }

        var spec = Map(new { Image = "busybox", HostConfig = new { LogConfig = new { Type = driver, Config = config } } });

        Assert.Equal(bytes, spec.Limits.LogMaxBytes);
        Assert.Equal(files, spec.Limits.LogMaxFiles);
    }

    [Fact]
    public void Log_driver_none_keeps_only_what_attach_needs()
    {
        var spec = Map(new { Image = "busybox", HostConfig = new { LogConfig = new { Type = "none" } } });

        Assert.Equal((DockerLogOptions.NoneMaxBytes, 1), (spec.Limits.LogMaxBytes, spec.Limits.LogMaxFiles));
    }

    [Theory]
    [InlineData("syslog", null, null, "logging driver \"syslog\" is not supported by this engine: use json-file (the default), local or none")]
    [InlineData("journald", null, null, "logging driver \"journald\" is not supported by this engine: use json-file (the default), local or none")]
    [InlineData("json-file", "max-size", "10x", "invalid value for log-opt max-size: \"10x\": give a size of at least 4k, such as 10m")]
    [InlineData("json-file", "max-size", "1k", "invalid value for log-opt max-size: \"1k\": give a size of at least 4k, such as 10m")]
    [InlineData("json-file", "max-file", "0", "invalid value for log-opt max-file: \"0\": give a whole number from 1 to 100")]
    [InlineData("json-file", "compress", "true", "unknown log opt 'compress' for json-file log driver: this engine honours max-size and max-file")]
    [InlineData("none", "max-size", "10m", "logging driver none takes no options (got max-size)")]
    public void Unsupported_log_drivers_and_options_are_400(string driver, string? key, string? value, string message)
    {
        var config = key is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [key] = value! };

        var e = Refused(new { Image = "busybox", HostConfig = new { LogConfig = new { Type = driver, Config = config } } });

        Assert.Equal(message, e.Message);
    }

    private static ContainerCreateSpec Map(object body) => DockerCreateMapper.ToSpec(Parse(JsonSerializer.Serialize(body)), null);

    private static DockerApiException Refused(object body)
    {
        var e = Assert.Throws<DockerApiException>(() => Map(body));
        Assert.Equal(400, e.StatusCode);
        return e;
    }

    private static DockerCreateRequest WithHostConfig(string hostConfig) => Parse("{\"Image\":\"busybox\",\"HostConfig\":" + hostConfig + "}");

    /// <summary>Read with the engine's own JSON options, as the endpoint reads the body.</summary>
    private static DockerCreateRequest Parse(string json) => JsonSerializer.Deserialize<DockerCreateRequest>(json, DockerJson.Options)!;
}
