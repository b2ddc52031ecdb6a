using System.Text.Json;
using Portal.Contracts;

namespace Portal.Docker.Tests;

/// <summary>
/// docker's security flags as the CLI sends them (captured from docker 28.2): honoured through ContainerSecurity, or a
/// 400 that names the flag. Before issue 13 every one of these was silently ignored.
/// </summary>
public sealed class DockerSecurityMapperTests
{
    [Fact]
    public void Cap_drop_all_read_only_ulimit_tmpfs_and_security_opts_reach_the_spec()
    {
        var spec = Map("""
            {"CapAdd":["CAP_NET_BIND_SERVICE"],"CapDrop":["ALL"],"ReadonlyRootfs":true,
             "SecurityOpt":["no-new-privileges","apparmor=portal-default"],
             "Tmpfs":{"/run":"","/x":"size=1m,mode=1777,exec"},
             "Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],
             "CgroupnsMode":"","IpcMode":"","PidMode":"","UTSMode":"","UsernsMode":"","Devices":[],"DeviceCgroupRules":null,
             "DeviceRequests":null,"MaskedPaths":null,"ReadonlyPaths":null,"ShmSize":0,"OomKillDisable":false,"Privileged":false}
            """);

        var s = spec.Security;
        Assert.Equal(["CAP_NET_BIND_SERVICE"], s.CapabilityAdd);
        Assert.Equal(["ALL"], s.CapabilityDrop);
        Assert.True(s.ReadOnlyRootFilesystem);
        Assert.True(s.NoNewPrivileges);
        Assert.Equal("portal-default", s.AppArmorProfile);
        Assert.Equal([new ContainerUlimit { Name = "nofile", Soft = 1024, Hard = 2048 }], s.Ulimits);
        Assert.Equal(2, s.Tmpfs.Count);
        Assert.Equal("/run", s.Tmpfs[0].Path);
        Assert.Null(s.Tmpfs[0].SizeBytes);
        Assert.Equal(1L << 20, s.Tmpfs[1].SizeBytes);
        Assert.Equal("1777", s.Tmpfs[1].Mode);
        Assert.Equal(["exec"], s.Tmpfs[1].Options);
    }

    [Fact]
    public void A_plain_run_asks_for_nothing()
    {
        var s = Map("{}").Security;

        Assert.Empty(s.CapabilityAdd);
        Assert.Empty(s.CapabilityDrop);
        Assert.False(s.ReadOnlyRootFilesystem);
        Assert.Null(s.NoNewPrivileges);
        Assert.Null(s.AppArmorProfile);
        Assert.Empty(s.Ulimits);
        Assert.Empty(s.Tmpfs);
    }

    [Theory]
    [InlineData("no-new-privileges", true)]
    [InlineData("no-new-privileges:true", true)]
    [InlineData("no-new-privileges=true", true)]
    [InlineData("no-new-privileges:false", false)]
    [InlineData("no-new-privileges=false", false)]
    public void No_new_privileges_forms(string option, bool expected)
    {
        Assert.Equal(expected, Map($$"""{"SecurityOpt":["{{option}}"]}""").Security.NoNewPrivileges);
    }

    [Theory]
    [InlineData("apparmor=docker-default", "docker-default")]
    [InlineData("apparmor:unconfined", "unconfined")]
    public void Apparmor_forms(string option, string expected)
    {
        Assert.Equal(expected, Map($$"""{"SecurityOpt":["{{option}}"]}""").Security.AppArmorProfile);
    }

    [Theory]
    [InlineData("64m", 64L << 20)]
    [InlineData("64M", 64L << 20)]
    [InlineData("64mb", 64L << 20)]
    [InlineData("64MiB", 64L << 20)]
    [InlineData("1g", 1L << 30)]
    [InlineData("512k", 512L << 10)]
    [InlineData("4096", 4096L)]
    [InlineData("1.5k", 1536L)]
    [InlineData("0", null)]
    [InlineData("-1m", null)]
    [InlineData("lots", null)]
    [InlineData("9999999999p", null)]
    [InlineData("999999999999999999p", null)]
    [InlineData("999999999999999999.999999999t", null)]
    public void Tmpfs_sizes_read_as_docker_reads_them(string text, long? bytes)
    {
        Assert.Equal(bytes, DockerCreateMapper.RamBytes(text));
    }

    public static TheoryData<string, string> Refusals() => new()
    {
        { """{"Privileged":true}""", "privileged containers (--privileged) are not supported by this engine" },
        { """{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}""", "host devices (--device, --device-cgroup-rule) are not supported by this engine" },
        { """{"DeviceCgroupRules":["c 1:3 rwm"]}""", "host devices (--device, --device-cgroup-rule) are not supported by this engine" },
        { """{"DeviceRequests":[{"Count":-1}]}""", "device requests (--gpus) are not supported by this engine" },
        { """{"PidMode":"host"}""", "--pid host is not supported by this engine: every container gets a PID namespace of its own" },
        { """{"PidMode":"container:web"}""", "--pid container:web is not supported by this engine" },
        { """{"IpcMode":"host"}""", "--ipc host is not supported by this engine" },
        { """{"UTSMode":"host"}""", "--uts host is not supported by this engine" },
        { """{"CgroupnsMode":"host"}""", "--cgroupns host is not supported by this engine" },
        { """{"UsernsMode":"host"}""", "--userns host is not supported by this engine" },
        { """{"Sysctls":{"net.ipv4.ip_forward":"1"}}""", "--sysctl is not supported by this engine" },
        { """{"CgroupParent":"/x"}""", "--cgroup-parent is not supported by this engine" },
        { """{"MaskedPaths":[]}""", "MaskedPaths and ReadonlyPaths are fixed by this engine" },
        { """{"OomKillDisable":true}""", "--oom-kill-disable is not supported by this engine" },
        { """{"ShmSize":1048576}""", "--shm-size is not supported by this engine" },
        { """{"SecurityOpt":["seccomp=unconfined"]}""", "--security-opt seccomp=unconfined is not allowed by this engine" },
        { """{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}""", "custom seccomp profiles (--security-opt seccomp=...) are not supported" },
        { """{"SecurityOpt":["label=disable"]}""", "SELinux labels (--security-opt label=...) are not supported" },
        { """{"SecurityOpt":["systempaths=unconfined"]}""", "--security-opt systempaths=unconfined is not allowed" },
        { """{"SecurityOpt":["writable-cgroups=true"]}""", "unknown --security-opt \"writable-cgroups=true\"" },
        { """{"SecurityOpt":["no-new-privileges=maybe"]}""", "no-new-privileges takes true or false" },
        { """{"SecurityOpt":["apparmor="]}""", "invalid --security-opt apparmor: give a profile name" },
        { """{"SecurityOpt":[""]}""", "invalid --security-opt: an empty option" },
        { """{"SecurityOpt":[null]}""", "invalid --security-opt: an empty option" },
        { """{"CapAdd":[null]}""", "invalid CapAdd: entries must be strings, not null" },
        { """{"CapDrop":["NET\u0000RAW"]}""", "invalid CapDrop: it contains a NUL character" },
        { """{"Ulimits":[{"Name":"nofile","Soft":1}]}""", "invalid Ulimits entry: each needs Name, Soft and Hard" },
        { """{"Ulimits":[null]}""", "invalid Ulimits entry" },
        { """{"Tmpfs":{"/run":"size=lots"}}""", "invalid tmpfs size \"lots\" for /run" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void What_cannot_be_honoured_is_400_naming_the_flag(string hostConfig, string message)
    {
        var e = Assert.Throws<DockerApiException>(() => Map(hostConfig));

        Assert.Equal(400, e.StatusCode);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"IpcMode":"private"}""")]
    [InlineData("""{"IpcMode":"shareable"}""")]
    [InlineData("""{"CgroupnsMode":"private"}""")]
    [InlineData("""{"PidMode":"private"}""")]
    [InlineData("""{"ShmSize":67108864}""")]
    [InlineData("""{"Devices":[],"Sysctls":{},"DeviceRequests":[]}""")]
    public void What_this_engine_does_anyway_is_accepted(string hostConfig)
    {
        _ = Map(hostConfig);
    }

    private static ContainerCreateSpec Map(string hostConfig) =>
        DockerCreateMapper.ToSpec(JsonSerializer.Deserialize<DockerCreateRequest>("{\"Image\":\"busybox\",\"HostConfig\":" + hostConfig + "}", DockerJson.Options)!, null);
}
