using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Linux;
using Portal.Compute.Linux.ProcessIsolation;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;

namespace Portal.Compute.Tests.Linux;

/// <summary>
/// A container's security options, from the request to config.json: normalized and checked (ContainerSecurityPolicy),
/// allowed or refused per isolation level (ProcessSecurityPolicy, the VM driver), and written into the OCI spec
/// (capabilities, root.readonly, rlimits, tmpfs mounts, noNewPrivileges, apparmorProfile, the seccomp profile that
/// follows the capabilities). Unit tier: no root.
/// </summary>
public sealed class ContainerSecurityTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-security-").FullName;

    // ---- normalization ----

    [Theory]
    [InlineData("net_admin", "CAP_NET_ADMIN")]
    [InlineData("CAP_NET_ADMIN", "CAP_NET_ADMIN")]
    [InlineData(" Sys_Ptrace ", "CAP_SYS_PTRACE")]
    [InlineData("all", "ALL")]
    public void Capability_names_are_canonical(string name, string expected)
    {
        Assert.Equal(expected, ContainerSecurityPolicy.CanonicalCapability(name));
    }

    public static TheoryData<ContainerSecurity, string> Invalid() => new()
    {
        { new() { CapabilityDrop = ["CAP_FLY"] }, "Unknown capability 'CAP_FLY'" },
        { new() { CapabilityAdd = ["ALL"] }, "Adding ALL capabilities is not allowed" },
        { new() { Ulimits = [new() { Name = "rtprio", Soft = 1, Hard = 1 }] }, "rtprio ulimit is not allowed" },
        { new() { Ulimits = [new() { Name = "files", Soft = 1, Hard = 1 }] }, "Unknown ulimit 'files': use one of as, core" },
        { new() { Ulimits = [new() { Name = "nofile", Soft = 10, Hard = 5 }] }, "soft limit 10 is above the hard limit 5" },
        { new() { Ulimits = [new() { Name = "nofile", Soft = -1, Hard = 5 }] }, "soft limit -1 is above the hard limit 5" },
        { new() { Ulimits = [new() { Name = "nofile", Soft = -2, Hard = 5 }] }, "values must be 0 or more" },
        { new() { Ulimits = [new() { Name = "nofile", Soft = 1, Hard = 1 }, new() { Name = "NOFILE", Soft = 2, Hard = 2 }] }, "nofile is given twice" },
        { new() { Tmpfs = [new() { Path = "run" }] }, "Invalid tmpfs path 'run'" },
        { new() { Tmpfs = [new() { Path = "/" }] }, "A tmpfs cannot be mounted at /" },
        { new() { Tmpfs = [new() { Path = "//proc/sys" }] }, "cannot be mounted at /proc/sys" },
        { new() { Tmpfs = [new() { Path = "/sys" }] }, "cannot be mounted at /sys" },
        { new() { Tmpfs = [new() { Path = "/dev" }] }, "cannot be mounted at /dev" },
        { new() { Tmpfs = [new() { Path = "/etc" }] }, "would hide the engine's /etc/hosts" },
        { new() { Tmpfs = [new() { Path = "/etc//hosts" }] }, "cannot be mounted at /etc/hosts" },
        { new() { Tmpfs = [new() { Path = "/a/../proc" }] }, "no '.' or '..' parts" },
        { new() { Tmpfs = [new() { Path = "/run" }, new() { Path = "/run/" }] }, "Duplicate tmpfs mount at /run" },
        { new() { Tmpfs = [new() { Path = "/run", Mode = "999" }] }, "Invalid tmpfs mode '999'" },
        { new() { Tmpfs = [new() { Path = "/run", SizeBytes = -5 }] }, "Invalid tmpfs size" },
        { new() { Tmpfs = [new() { Path = "/run", Options = ["uid=0"] }] }, "Invalid tmpfs option 'uid=0' for /run" },
        { new() { Tmpfs = [new() { Path = "/run", Options = ["bind"] }] }, "Invalid tmpfs option 'bind'" },
        { new() { AppArmorProfile = "two words" }, "Invalid AppArmor profile name" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Bad_options_are_refused_with_what_was_wrong(ContainerSecurity security, string message)
    {
        var e = Assert.Throws<ComputeException>(() => ContainerSecurityPolicy.Normalize(security));

        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_tmpfs_mounts_are_refused()
    {
        var many = new ContainerSecurity { Tmpfs = Enumerable.Range(0, 33).Select(i => new TmpfsMount { Path = $"/t{i}" }).ToList() };

        Assert.Contains("Too many tmpfs mounts", Assert.Throws<ComputeException>(() => ContainerSecurityPolicy.Normalize(many)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "ALL" }, new string[0], new string[0])]
    [InlineData(new[] { "ALL" }, new[] { "CAP_NET_BIND_SERVICE" }, new[] { "CAP_NET_BIND_SERVICE" })]
    [InlineData(new[] { "CAP_NET_RAW", "CAP_MKNOD" }, new string[0], new[] { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE" })]
    [InlineData(new[] { "CAP_KILL" }, new[] { "CAP_KILL", "CAP_SYS_PTRACE" }, new[] { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_SYS_PTRACE" })]
    public void Capabilities_follow_dockers_rule(string[] drop, string[] add, string[] expected)
    {
        var security = ContainerSecurityPolicy.Normalize(new ContainerSecurity { CapabilityDrop = drop, CapabilityAdd = add });

        Assert.Equal(expected, SecurityDefaults.CapabilitiesOf(security));
    }

    // ---- what process isolation allows ----

    [Theory]
    [InlineData("CAP_SYS_ADMIN")]
    [InlineData("CAP_SYS_MODULE")]
    [InlineData("CAP_NET_ADMIN")]
    [InlineData("CAP_DAC_READ_SEARCH")]
    [InlineData("CAP_SYS_TIME")]
    [InlineData("CAP_BPF")]
    public void Process_isolation_refuses_capabilities_that_reach_the_host_kernel(string cap)
    {
        var e = Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.Check(new ContainerSecurity { CapabilityAdd = [cap] }, DisabledAppArmor()));

        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.StartsWith($"Adding {cap} is not allowed under process isolation", e.Message, StringComparison.Ordinal);
        Assert.Contains("--isolation=hyperv", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Process_isolation_allows_the_defaults_back_and_a_few_contained_capabilities()
    {
        ProcessSecurityPolicy.Check(new ContainerSecurity { CapabilityDrop = ["ALL"], CapabilityAdd = [.. SecurityDefaults.AddableCapabilities] }, DisabledAppArmor());
    }

    [Theory]
    [InlineData(false, null, "no-new-privileges cannot be turned off")]
    [InlineData(null, "unconfined", "apparmor=unconfined is not allowed")]
    [InlineData(null, "my-profile", "AppArmor profile 'my-profile' cannot be applied: AppArmor is not enabled")]
    public void Process_isolation_refuses_loosening_and_what_the_host_lacks(bool? noNewPrivileges, string? profile, string message)
    {
        var e = Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.Check(new ContainerSecurity { NoNewPrivileges = noNewPrivileges, AppArmorProfile = profile }, DisabledAppArmor()));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ulimits_above_the_agents_own_hard_limits_or_a_tiny_nofile_are_refused()
    {
        (ulong, ulong) Host(int resource) => resource == 8 ? (65536UL, 65536UL) : (1024UL, 1_048_576UL); // memlock 64k, others 1M
        var ok = new ContainerSecurity { Ulimits = [new() { Name = "nofile", Soft = 1024, Hard = 1_048_576 }, new() { Name = "memlock", Soft = 100, Hard = 65536 }] };
        ProcessSecurityPolicy.Check(ok, DisabledAppArmor(), Host);

        Assert.Contains("The nofile ulimit 2000000 is above this host's hard limit of 1048576", Refused(new() { Name = "nofile", Soft = 1024, Hard = 2_000_000 }), StringComparison.Ordinal);
        Assert.Contains("The memlock ulimit unlimited is above this host's hard limit of 65536", Refused(new() { Name = "memlock", Soft = -1, Hard = -1 }), StringComparison.Ordinal);
        Assert.Contains("The nofile ulimit must be at least 16", Refused(new() { Name = "nofile", Soft = 3, Hard = 3 }), StringComparison.Ordinal);

        string Refused(ContainerUlimit ulimit) => Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.Check(new ContainerSecurity { Ulimits = [ulimit] }, DisabledAppArmor(), Host)).Message;
    }

    [Fact]
    public void A_loaded_profile_may_be_named_where_apparmor_is_enabled()
    {
        var appArmor = EnabledAppArmor(loaded: "my-profile (enforce)\nother (complain)\n", (_, _) => Task.FromResult(new HostCommand.Result(0, "", "")));

        ProcessSecurityPolicy.Check(new ContainerSecurity { AppArmorProfile = "my-profile" }, appArmor);
        ProcessSecurityPolicy.Check(new ContainerSecurity { AppArmorProfile = AppArmorProfile.DefaultName }, appArmor);
        var e = Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.Check(new ContainerSecurity { AppArmorProfile = "missing" }, appArmor));
        Assert.Contains("AppArmor profile 'missing' is not loaded in enforce mode on this host", e.Message, StringComparison.Ordinal);

        // A profile in complain mode confines nothing: naming it would be apparmor=unconfined by another name.
        var complain = Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.Check(new ContainerSecurity { AppArmorProfile = "other" }, appArmor));
        Assert.Contains("AppArmor profile 'other' is not loaded in enforce mode", complain.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tmpfs_over_a_file_in_the_image_is_refused_before_the_runtime_fails_on_it()
    {
        var rootfs = Path.Combine(_root, "rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        Directory.CreateDirectory(Path.Combine(rootfs, "run"));
        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
        File.CreateSymbolicLink(Path.Combine(rootfs, "etc", "link"), "/etc/passwd"); // absolute: resolved inside the root
        File.CreateSymbolicLink(Path.Combine(rootfs, "var-run"), "run");

        foreach (var path in new[] { "/etc/passwd", "/etc/link" })
        {
            var e = Assert.Throws<ComputeException>(() => ProcessSecurityPolicy.CheckTmpfsTargets(rootfs, [new TmpfsMount { Path = path }]));
            Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
            Assert.Contains($"A tmpfs cannot be mounted at {path}: it is a file in the image", e.Message, StringComparison.Ordinal);
        }

        ProcessSecurityPolicy.CheckTmpfsTargets(rootfs, [new TmpfsMount { Path = "/run" }, new TmpfsMount { Path = "/var-run" }, new TmpfsMount { Path = "/not/yet" }]);
    }

    [Theory]
    [InlineData("runc create failed: unable to start container process: exec: \"sh\": executable file not found in $PATH", ComputeErrorCode.InvalidArgument)]
    [InlineData("executable file `nosuch` not found in $PATH: No such file or directory", ComputeErrorCode.InvalidArgument)]
    [InlineData("exec: \"/etc\": is a directory", ComputeErrorCode.InvalidArgument)]
    [InlineData("exec /data/x: permission denied", ComputeErrorCode.InvalidArgument)]
    [InlineData("exec /bin/x: exec format error", ComputeErrorCode.InvalidArgument)]
    [InlineData("error mounting \"tmpfs\" to rootfs at \"/etc/passwd\": not a directory", ComputeErrorCode.InvalidArgument)]
    [InlineData("cgroup: cannot enter cgroupv2 \"/sys/fs/cgroup/portal\" with domain controllers", ComputeErrorCode.RuntimeFailure)]
    [InlineData("unknown error", ComputeErrorCode.RuntimeFailure)]
    public void A_failed_create_is_the_containers_fault_where_dockerd_says_so(string message, ComputeErrorCode code)
    {
        Assert.Equal(code, OciRuntime.CreateFailureCode(message));
    }

    // ---- what VM isolation allows ----

    [Theory]
    [MemberData(nameof(VmRefusals))]
    public void Vm_isolation_refuses_what_the_guest_cannot_honour(ContainerSecurity security, string flag)
    {
        var e = Assert.Throws<ComputeException>(() => VmIsolationDriver.CheckGuestSecurity(security));

        Assert.Equal(ComputeErrorCode.InvalidArgument, e.Code);
        Assert.StartsWith(flag, e.Message, StringComparison.Ordinal);
        Assert.Contains("not supported with VM isolation (HyperV)", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<ContainerSecurity, string> VmRefusals() => new()
    {
        { new() { CapabilityDrop = ["ALL"] }, "--cap-drop" },
        { new() { ReadOnlyRootFilesystem = true }, "--read-only" },
        { new() { NoNewPrivileges = true }, "no-new-privileges" },
        { new() { Ulimits = [new() { Name = "nofile", Soft = 1, Hard = 1 }] }, "--ulimit" },
        { new() { Tmpfs = [new() { Path = "/run" }] }, "--tmpfs" },
        { new() { AppArmorProfile = "portal-default" }, "apparmor=portal-default" },
        { new() { CapabilityDrop = ["ALL"], ReadOnlyRootFilesystem = true }, "--cap-drop, --read-only are" },
    };

    [Fact]
    public void Vm_isolation_accepts_cap_add_and_unconfined_which_its_root_already_has()
    {
        VmIsolationDriver.CheckGuestSecurity(new ContainerSecurity { CapabilityAdd = ["CAP_SYS_ADMIN"], AppArmorProfile = "unconfined", NoNewPrivileges = false });
    }

    // ---- config.json ----

    [Fact]
    public void The_spec_carries_the_options()
    {
        var security = ContainerSecurityPolicy.Normalize(new ContainerSecurity
        {
            CapabilityDrop = ["ALL"],
            CapabilityAdd = ["CAP_SYS_PTRACE"],
            ReadOnlyRootFilesystem = true,
            Ulimits = [new() { Name = "nofile", Soft = 100, Hard = 200 }, new() { Name = "core", Soft = 0, Hard = -1 }],
            Tmpfs = [new() { Path = "/run" }, new() { Path = "/scratch", SizeBytes = 1 << 20, Mode = "700", Options = ["exec"] }],
        });
        var spec = Build(security, appArmorProfile: "portal-default");

        Assert.True(spec["root"]!["readonly"]!.GetValue<bool>());
        var process = spec["process"]!;
        Assert.Equal(["CAP_SYS_PTRACE"], Strings(process["capabilities"]!["bounding"]));
        Assert.Equal(["CAP_SYS_PTRACE"], Strings(process["capabilities"]!["effective"]));
        Assert.Equal(["CAP_SYS_PTRACE"], Strings(process["capabilities"]!["permitted"]));
        Assert.Equal("portal-default", process["apparmorProfile"]!.GetValue<string>());
        Assert.True(process["noNewPrivileges"]!.GetValue<bool>());
        var rlimits = process["rlimits"]!.AsArray().ToDictionary(r => r!["type"]!.GetValue<string>(), r => (r!["soft"]!.GetValue<ulong>(), r["hard"]!.GetValue<ulong>()));
        Assert.Equal((100UL, 200UL), rlimits["RLIMIT_NOFILE"]);
        Assert.Equal((0UL, ulong.MaxValue), rlimits["RLIMIT_CORE"]);
        Assert.Equal(2, rlimits.Count);

        var mounts = spec["mounts"]!.AsArray().ToDictionary(m => m!["destination"]!.GetValue<string>(), m => m!);
        Assert.Equal("tmpfs", mounts["/run"]["type"]!.GetValue<string>());
        Assert.Equal(["noexec", "nosuid", "nodev", "mode=1777"], Strings(mounts["/run"]["options"]));
        Assert.Equal(["noexec", "nosuid", "nodev", "exec", "mode=700", "size=1048576"], Strings(mounts["/scratch"]["options"]));

        // Docker's rule: seccomp follows the capabilities, so kcmp is allowed only because SYS_PTRACE was added.
        Assert.Contains("kcmp", SeccompAllowed(spec));
        Assert.DoesNotContain("kcmp", SeccompAllowed(Build(new ContainerSecurity(), null)));
    }

    [Fact]
    public void Without_options_the_spec_keeps_dockers_defaults_and_no_profile()
    {
        var spec = Build(new ContainerSecurity(), appArmorProfile: null);

        Assert.False(spec["root"]!["readonly"]!.GetValue<bool>());
        Assert.Equal(SecurityDefaults.Capabilities, Strings(spec["process"]!["capabilities"]!["bounding"]));
        Assert.Null(spec["process"]!["apparmorProfile"]);
        Assert.True(spec["process"]!["noNewPrivileges"]!.GetValue<bool>());
        Assert.Equal(["RLIMIT_NOFILE"], spec["process"]!["rlimits"]!.AsArray().Select(r => r!["type"]!.GetValue<string>()));
        Assert.DoesNotContain(spec["mounts"]!.AsArray(), m => m!["type"]!.GetValue<string>() == "tmpfs" && m["destination"]!.GetValue<string>() is not ("/dev" or "/dev/shm"));
    }

    [Fact]
    public void Exec_processes_get_the_containers_capabilities_limits_and_profile()
    {
        var security = ContainerSecurityPolicy.Normalize(new ContainerSecurity { CapabilityDrop = ["ALL"], Ulimits = [new() { Name = "nproc", Soft = 5, Hard = 5 }] });

        var process = OciSpecBuilder.Process(["sh"], [], "/", ContainerUser.Root, false, security, "portal-default");

        Assert.Empty(Strings(process["capabilities"]!["effective"]));
        Assert.Contains(process["rlimits"]!.AsArray(), r => r!["type"]!.GetValue<string>() == "RLIMIT_NPROC");
        Assert.Equal("portal-default", process["apparmorProfile"]!.GetValue<string>());
    }

    // ---- AppArmor ----

    [Fact]
    public void The_default_profile_is_dockers_with_this_engines_name()
    {
        var text = AppArmorProfile.Generate("portal-default", tunables: true, baseAbstraction: true);

        Assert.StartsWith("#include <tunables/global>\n\nprofile portal-default flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/base>\n", text, StringComparison.Ordinal);
        foreach (var rule in new[]
        {
            "  deny mount,", "  deny @{PROC}/sysrq-trigger rwklx,", "  deny @{PROC}/kcore rwklx,", "  deny /sys/firmware/** rwklx,",
            "  deny /sys/kernel/security/** rwklx,", "  signal (send,receive) peer=portal-default,", "  ptrace (trace,read,tracedby,readby) peer=portal-default,",
        })
        {
            Assert.Contains(rule + "\n", text, StringComparison.Ordinal);
        }

        Assert.EndsWith("}\n", text, StringComparison.Ordinal);
        Assert.Equal(text.Count(c => c == '{'), text.Count(c => c == '}'));
        var bare = AppArmorProfile.Generate("portal-default", tunables: false, baseAbstraction: false);
        Assert.StartsWith("@{PROC}=/proc/\n\nprofile portal-default ", bare, StringComparison.Ordinal);
        Assert.DoesNotContain("#include", bare, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Where_apparmor_is_disabled_containers_get_no_profile_and_the_reason_is_known()
    {
        var appArmor = DisabledAppArmor();

        Assert.False(appArmor.Enabled);
        Assert.Contains("AppArmor is not enabled in this kernel", appArmor.DisabledReason, StringComparison.Ordinal);
        Assert.Null(await appArmor.ProfileForAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task Where_apparmor_is_enabled_the_default_profile_is_loaded_once_and_applied()
    {
        var loads = new List<string>();
        var appArmor = EnabledAppArmor(loaded: "", (text, _) =>
        {
            lock (loads)
            {
                loads.Add(text);
            }

            return Task.FromResult(new HostCommand.Result(0, "", ""));
        });
        Directory.CreateDirectory(Path.Combine(_root, "etc", "apparmor.d", "tunables"));
        File.WriteAllText(Path.Combine(_root, "etc", "apparmor.d", "tunables", "global"), "");

        Assert.True(appArmor.Enabled);
        Assert.Equal("portal-default", await appArmor.ProfileForAsync(null, CancellationToken.None));
        Assert.Equal("portal-default", await appArmor.ProfileForAsync("portal-default", CancellationToken.None));
        Assert.Equal("mine", await appArmor.ProfileForAsync("mine", CancellationToken.None));
        Assert.Single(loads);
        Assert.StartsWith("#include <tunables/global>", loads[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_profile_that_cannot_be_loaded_fails_the_start_rather_than_running_unconfined()
    {
        var appArmor = EnabledAppArmor(loaded: "", (_, _) => Task.FromResult(new HostCommand.Result(1, "", "apparmor_parser: syntax error")));

        var e = await Assert.ThrowsAsync<ComputeException>(() => appArmor.ProfileForAsync(null, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.RuntimeFailure, e.Code);
        Assert.Contains("the portal-default profile could not be loaded: apparmor_parser: syntax error", e.Message, StringComparison.Ordinal);
    }

    private AppArmorHost DisabledAppArmor() => new(NullLogger.Instance, sysRoot: Path.Combine(_root, "sys-off"), etcRoot: Path.Combine(_root, "etc"));

    private AppArmorHost EnabledAppArmor(string loaded, AppArmorHost.ProfileLoader loader)
    {
        var sys = Path.Combine(_root, "sys");
        Directory.CreateDirectory(Path.Combine(sys, "module", "apparmor", "parameters"));
        File.WriteAllText(Path.Combine(sys, "module", "apparmor", "parameters", "enabled"), "Y\n");
        Directory.CreateDirectory(Path.Combine(sys, "kernel", "security", "apparmor"));
        File.WriteAllText(Path.Combine(sys, "kernel", "security", "apparmor", "profiles"), loaded);
        return new AppArmorHost(NullLogger.Instance, sysRoot: sys, etcRoot: Path.Combine(_root, "etc"), loader: loader);
    }

    private static JsonObject Build(ContainerSecurity security, string? appArmorProfile) => OciSpecBuilder.Build(new OciSpecRequest
    {
        Hostname = "c",
        RootfsPath = "/nonexistent/rootfs",
        CgroupsPath = "/portal/c",
        Args = ["sh"],
        Env = [],
        Cwd = "/",
        User = ContainerUser.Root,
        Limits = new ContainerLimits(),
        DefaultPidsLimit = 100,
        CgroupNamespace = true,
        Security = security,
        AppArmorProfile = appArmorProfile,
    });

    private static List<string> Strings(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    private static HashSet<string> SeccompAllowed(JsonObject spec) => spec["linux"]!["seccomp"]!["syscalls"]!.AsArray()
        .Where(s => s!["action"]!.GetValue<string>() == "SCMP_ACT_ALLOW" && s["args"] is null or JsonArray { Count: 0 })
        .SelectMany(s => Strings(s!["names"])).ToHashSet();

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
