using Portal.Compute.Linux.Vm;

namespace Portal.Compute.Tests.Vm;

public sealed class AcceleratorProbeTests
{
    private sealed class FakeKvmHost(bool device, string? bootFailure, string bootId = "boot-1") : IKvmHost
    {
        public int Boots { get; private set; }

        public bool DevicePresent => device;

        public string BootId { get; set; } = bootId;

        public Task<string?> BootGuestAsync(TimeSpan timeout, CancellationToken ct)
        {
            Boots++;
            return Task.FromResult(bootFailure);
        }
    }

    public static TheoryData<VmAccelerator, bool, string?, VmAccelerator, int, string> Cases => new()
    {
        // requested, /dev/kvm, probe failure, chosen, probe boots, reason contains
        { VmAccelerator.Tcg, true, null, VmAccelerator.Tcg, 0, "configured" },
        { VmAccelerator.Kvm, true, "hangs", VmAccelerator.Kvm, 0, "configured" },
        { VmAccelerator.Auto, false, null, VmAccelerator.Tcg, 0, "/dev/kvm does not exist" },
        { VmAccelerator.Auto, true, null, VmAccelerator.Kvm, 1, "booted under KVM" },
        { VmAccelerator.Auto, true, "no guest output within 8 s", VmAccelerator.Tcg, 1, "no guest output within 8 s" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Chooses(VmAccelerator requested, bool device, string? failure, VmAccelerator expected, int boots, string reason)
    {
        var cache = Path.Combine(Path.GetTempPath(), $"accel-{Guid.NewGuid():N}.json");
        try
        {
            var host = new FakeKvmHost(device, failure);
            var choice = await AcceleratorProbe.ChooseAsync(requested, host, cache, TimeSpan.FromSeconds(8), CancellationToken.None);
            Assert.Equal(expected, choice.Accelerator);
            Assert.Equal(boots, host.Boots);
            Assert.Contains(reason, choice.Reason, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(cache);
        }
    }

    [Fact]
    public async Task Kvm_configured_without_the_device_is_an_error()
    {
        var e = await Assert.ThrowsAsync<ComputeException>(() => AcceleratorProbe.ChooseAsync(VmAccelerator.Kvm, new FakeKvmHost(false, null), "/nonexistent/x.json", TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(ComputeErrorCode.NotSupported, e.Code);
    }

    [Fact]
    public async Task The_probe_runs_once_per_host_boot()
    {
        var cache = Path.Combine(Path.GetTempPath(), $"accel-{Guid.NewGuid():N}.json");
        try
        {
            var host = new FakeKvmHost(true, "emulation failure");
            var first = await AcceleratorProbe.ChooseAsync(VmAccelerator.Auto, host, cache, TimeSpan.FromSeconds(8), CancellationToken.None);
            var second = await AcceleratorProbe.ChooseAsync(VmAccelerator.Auto, host, cache, TimeSpan.FromSeconds(8), CancellationToken.None);
            Assert.Equal(1, host.Boots);
            Assert.Equal(first, second);
            host.BootId = "boot-2"; // the host rebooted: probe again
            await AcceleratorProbe.ChooseAsync(VmAccelerator.Auto, host, cache, TimeSpan.FromSeconds(8), CancellationToken.None);
            Assert.Equal(2, host.Boots);
        }
        finally
        {
            File.Delete(cache);
        }
    }

    [Fact]
    public void Exit_without_an_event_names_the_cause()
    {
        var panic = Portal.Compute.Linux.Vm.VmContainerExits.Describe(0, ["[    1.0] Run /init as init process", "[    1.2] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100", "[    1.3] CPU: 0 PID: 1"]);
        Assert.Equal(255, panic.ExitCode);
        Assert.StartsWith("The guest kernel panicked: Kernel panic - not syncing: Attempted to kill init!", panic.Reason);
        var killed = Portal.Compute.Linux.Vm.VmContainerExits.Describe(137, []);
        Assert.Equal(137, killed.ExitCode);
        Assert.Contains("VM worker was killed", killed.Reason);
        Assert.Contains("VM worker was killed", Portal.Compute.Linux.Vm.VmContainerExits.Describe(null, []).Reason);
    }
}
