using System.Text.Json;
using System.Text.Json.Nodes;
using Portal.Compute.Linux.ProcessIsolation;

namespace Portal.Compute.Tests.Linux;

public sealed class SeccompProfileTests
{
    private const string Allow = "SCMP_ACT_ALLOW";

    // Docker's default capability set (moby oci/caps/defaults.go).
    private static readonly string[] DockerDefaultCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    private static readonly Version ModernKernel = new(6, 8);

    private static readonly HashSet<string> OciActions =
    [
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
    ];

    private static readonly HashSet<string> OciOperators =
    [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];

    [Fact]
    public void DefaultActionIsErrnoEperm()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        Assert.Equal("SCMP_ACT_ERRNO", (string?)profile["defaultAction"]);
        Assert.Equal(1, (int?)profile["defaultErrnoRet"]);
    }

    [Fact]
    public void ArchitecturesAreX86Family()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        var arches = profile["architectures"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.Equal(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], arches);
    }

    [Theory]
    [InlineData("read")]
    [InlineData("write")]
    [InlineData("exit_group")]
    [InlineData("clone")]
    [InlineData("arch_prctl")]
    [InlineData("chroot")]
    public void EverydaySyscallsAreAllowedWithDockerDefaults(string syscall)
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        Assert.Contains(syscall, AllowedNames(profile));
    }

    [Theory]
    [InlineData("io_uring_setup")]
    [InlineData("io_uring_enter")]
    [InlineData("io_uring_register")]
    public void IoUringIsNeverAllowedEvenWithEveryCapability(string syscall)
    {
        var profile = SeccompProfile.Build(AllCapabilities(), ModernKernel);

        Assert.DoesNotContain(syscall, AllowedNames(profile));
        Assert.DoesNotContain(syscall, SeccompProfile.UnconditionalAllow);
    }

    [Theory]
    [InlineData("mount")]
    [InlineData("umount2")]
    [InlineData("unshare")]
    [InlineData("setns")]
    [InlineData("bpf")]
    [InlineData("kexec_load")]
    [InlineData("keyctl")]
    [InlineData("add_key")]
    [InlineData("request_key")]
    [InlineData("init_module")]
    [InlineData("open_by_handle_at")]
    [InlineData("reboot")]
    [InlineData("perf_event_open")]
    [InlineData("pidfd_getfd")]
    [InlineData("kcmp")]
    public void PrivilegedSyscallsAreNotAllowedWithDockerDefaults(string syscall)
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        Assert.DoesNotContain(syscall, AllowedNames(profile));
    }

    [Fact]
    public void PtraceFollowsMobyKernelGate()
    {
        // moby allows ptrace from kernel 4.8 on, where it can no longer be used to bypass seccomp.
        var old = SeccompProfile.Build(DockerDefaultCaps, new Version(4, 4));
        var modern = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);
        var oldWithPtraceCap = SeccompProfile.Build([.. DockerDefaultCaps, "CAP_SYS_PTRACE"], new Version(4, 4));

        Assert.DoesNotContain("ptrace", AllowedNames(old));
        Assert.DoesNotContain("process_vm_readv", AllowedNames(old));
        Assert.Contains("ptrace", AllowedNames(modern));
        Assert.Contains("ptrace", AllowedNames(oldWithPtraceCap));
    }

    [Fact]
    public void SysAdminUnlocksMountFamilyAndUnfilteredClone()
    {
        var profile = SeccompProfile.Build([.. DockerDefaultCaps, "CAP_SYS_ADMIN"], ModernKernel);

        var allowed = AllowedNames(profile);
        Assert.Contains("mount", allowed);
        Assert.Contains("unshare", allowed);
        Assert.Contains("setns", allowed);
        Assert.Contains("clone3", allowed);
        Assert.DoesNotContain(Rules(profile), r => NamesOf(r).Contains("clone") && r["args"] is not null);
        Assert.DoesNotContain(Rules(profile), r => (string?)r["action"] != Allow);
    }

    [Fact]
    public void CloneIsFilteredOnNamespaceFlagsWithoutSysAdmin()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        var clone = Assert.Single(Rules(profile), r => NamesOf(r).Contains("clone"));
        Assert.Equal(Allow, (string?)clone["action"]);
        var arg = Assert.Single(clone["args"]!.AsArray())!;
        Assert.Equal(0u, (uint)arg["index"]!);
        Assert.Equal(2114060288ul, (ulong)arg["value"]!);
        Assert.Equal(0ul, (ulong)arg["valueTwo"]!);
        Assert.Equal("SCMP_CMP_MASKED_EQ", (string?)arg["op"]);
    }

    [Fact]
    public void Clone3ReturnsEnosysWithoutSysAdmin()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        var clone3 = Assert.Single(Rules(profile), r => NamesOf(r).Contains("clone3"));
        Assert.Equal("SCMP_ACT_ERRNO", (string?)clone3["action"]);
        Assert.Equal(38, (int?)clone3["errnoRet"]);
    }

    [Fact]
    public void SocketIsDeniedForAfAlgAndAfVsockOnly()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);
        var socketRules = Rules(profile).Where(r => NamesOf(r).Contains("socket")).ToList();

        Assert.NotEmpty(socketRules);
        Assert.All(socketRules, r => Assert.Single(r["args"]!.AsArray()));
        foreach (var domain in new ulong[] { 1, 2, 10, 16, 17, 37, 39, 41, 44 })
        {
            Assert.True(SocketAllowed(socketRules, domain), $"domain {domain} should be allowed");
        }

        Assert.False(SocketAllowed(socketRules, 38), "AF_ALG must be denied");
        Assert.False(SocketAllowed(socketRules, 40), "AF_VSOCK must be denied");
    }

    [Fact]
    public void PersonalityAllowsOnlyMobyValues()
    {
        var profile = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);

        var values = Rules(profile)
            .Where(r => NamesOf(r).Contains("personality"))
            .Select(r => (ulong)Assert.Single(r["args"]!.AsArray())!["value"]!)
            .Order()
            .ToArray();
        Assert.Equal([0x0ul, 0x8ul, 0x20000ul, 0x20008ul, 0xFFFFFFFFul], values);
    }

    [Theory]
    [InlineData("CAP_SYS_MODULE", "finit_module")]
    [InlineData("CAP_SYS_BOOT", "reboot")]
    [InlineData("CAP_SYS_PACCT", "acct")]
    [InlineData("CAP_SYS_RAWIO", "iopl")]
    [InlineData("CAP_SYS_TIME", "clock_settime")]
    [InlineData("CAP_SYS_TTY_CONFIG", "vhangup")]
    [InlineData("CAP_SYS_NICE", "mbind")]
    [InlineData("CAP_SYSLOG", "syslog")]
    [InlineData("CAP_BPF", "bpf")]
    [InlineData("CAP_PERFMON", "perf_event_open")]
    [InlineData("CAP_DAC_READ_SEARCH", "open_by_handle_at")]
    [InlineData("CAP_SYS_PTRACE", "pidfd_getfd")]
    [InlineData("sys_module", "init_module")]
    public void CapabilityBlocksAppearOnlyWithTheirCapability(string capability, string syscall)
    {
        Assert.DoesNotContain(syscall, AllowedNames(SeccompProfile.Build(DockerDefaultCaps, ModernKernel)));
        Assert.Contains(syscall, AllowedNames(SeccompProfile.Build([.. DockerDefaultCaps, capability], ModernKernel)));
    }

    [Fact]
    public void ChrootDependsOnSysChroot()
    {
        var withoutChroot = DockerDefaultCaps.Where(c => c != "CAP_SYS_CHROOT").ToArray();

        Assert.DoesNotContain("chroot", AllowedNames(SeccompProfile.Build(withoutChroot, ModernKernel)));
    }

    [Fact]
    public void UnconditionalAllowListHasNoDuplicates()
    {
        var duplicates = SeccompProfile.UnconditionalAllow
            .GroupBy(n => n, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => g.Key);

        Assert.Empty(duplicates);
    }

    [Fact]
    public void UnconditionalAllowListIsTheFirstRuleWithoutConditions()
    {
        var profile = SeccompProfile.Build([], ModernKernel);

        var first = Rules(profile)[0];
        Assert.Equal(Allow, (string?)first["action"]);
        Assert.Null(first["args"]);
        Assert.Equal(SeccompProfile.UnconditionalAllow, NamesOf(first));
    }

    [Fact]
    public void OutputMatchesOciSeccompSchemaAndRoundTrips()
    {
        var profile = SeccompProfile.Build(AllCapabilities(), ModernKernel);

        var text = profile.ToJsonString();
        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        Assert.Equal(
            ["architectures", "defaultAction", "defaultErrnoRet", "syscalls"],
            root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

        foreach (var rule in root.GetProperty("syscalls").EnumerateArray())
        {
            foreach (var property in rule.EnumerateObject())
            {
                Assert.Contains(property.Name, new[] { "names", "action", "errnoRet", "args" });
            }

            var names = rule.GetProperty("names");
            Assert.True(names.GetArrayLength() > 0);
            Assert.All(names.EnumerateArray(), n => Assert.False(string.IsNullOrWhiteSpace(n.GetString())));

            var action = rule.GetProperty("action").GetString()!;
            Assert.Contains(action, OciActions);
            if (rule.TryGetProperty("errnoRet", out var errnoRet))
            {
                Assert.Equal("SCMP_ACT_ERRNO", action);
                Assert.True(errnoRet.TryGetUInt32(out _));
            }

            if (rule.TryGetProperty("args", out var args))
            {
                foreach (var arg in args.EnumerateArray())
                {
                    Assert.Equal(
                        ["index", "op", "value", "valueTwo"],
                        arg.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
                    Assert.InRange(arg.GetProperty("index").GetUInt32(), 0u, 5u);
                    Assert.True(arg.GetProperty("value").TryGetUInt64(out _));
                    Assert.True(arg.GetProperty("valueTwo").TryGetUInt64(out _));
                    Assert.Contains(arg.GetProperty("op").GetString()!, OciOperators);
                }
            }
        }
    }

    [Fact]
    public void EachBuildReturnsAnIndependentObject()
    {
        var first = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);
        first["syscalls"]!.AsArray().Clear();

        var second = SeccompProfile.Build(DockerDefaultCaps, ModernKernel);
        Assert.NotEmpty(second["syscalls"]!.AsArray());
    }

    private static string[] AllCapabilities() =>
    [
        .. DockerDefaultCaps, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_PACCT", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_BPF",
        "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_RESOURCE",
    ];

    private static List<JsonObject> Rules(JsonObject profile) =>
        profile["syscalls"]!.AsArray().Select(r => r!.AsObject()).ToList();

    private static string[] NamesOf(JsonObject rule) =>
        rule["names"]!.AsArray().Select(n => (string)n!).ToArray();

    /// <summary>Names that at least one allow rule lets through, with or without argument filters.</summary>
    private static HashSet<string> AllowedNames(JsonObject profile) =>
        Rules(profile)
            .Where(r => (string?)r["action"] == Allow)
            .SelectMany(NamesOf)
            .ToHashSet(StringComparer.Ordinal);

    private static bool SocketAllowed(List<JsonObject> socketRules, ulong domain) =>
        socketRules.Any(r =>
        {
            var arg = r["args"]!.AsArray()[0]!;
            var value = (ulong)arg["value"]!;
            return (string?)arg["op"] switch
            {
                "SCMP_CMP_LT" => domain < value,
                "SCMP_CMP_EQ" => domain == value,
                "SCMP_CMP_GT" => domain > value,
                "SCMP_CMP_NE" => domain != value,
                var op => throw new InvalidOperationException($"unexpected socket operator {op}"),
            };
        });
}
