using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Networking;
using Portal.Compute.Tests.Vm;
using Portal.Contracts;
using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Integration;

/// <summary>
/// Both isolations, on a switch, built and run under the agent's own umask (077): what the agent makes for a container
/// (the overlay's root from the scratch disk, the image's root, the hosts file) must still let a non-root user run
/// dynamically linked programs and resolve names. Needs root.
/// </summary>
public sealed class PrivateUmaskFixture : VmFixture, IAsyncLifetime
{
    private int? _previous;

    protected override SwitchManager CreateSwitches() => new(Options.Networking, Options.StateRoot, Options.RunRoot, NullLogger.Instance);

    public string ImageId { get; private set; } = "";

    async Task IAsyncLifetime.InitializeAsync()
    {
        if (RootOnly.IsRoot)
        {
            _previous = umask(0x3F); // the agent's (AgentSocket): 077
        }

        await InitializeAsync();
        if (RootOnly.IsRoot)
        {
            ImageId = await HostFilesImage.ImportAsync(Compute.Images, "host-files:1", "/usr/bin/id", "/usr/bin/getent", "/usr/bin/sleep", "/usr/bin/stat", "/usr/bin/grep");
            await HostFilesImage.ImportAsync(Compute.Images, "host-files-no-etc:1", withEtc: false, "/usr/bin/sleep", "/usr/bin/stat");
        }
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        try
        {
            await DisposeAsync();
        }
        finally
        {
            if (_previous is { } previous)
            {
                umask(previous);
            }
        }
    }

    [DllImport("libc")]
    private static extern int umask(int mask);
}

[Trait("Requires", "root")]
[Collection("vm")]
public sealed class AgentUmaskTests(PrivateUmaskFixture fixture) : IClassFixture<PrivateUmaskFixture>
{
    [RootTheory]
    [InlineData(RuntimeType.Default)]
    [InlineData(RuntimeType.HyperV)]
    public async Task A_non_root_user_runs_dynamically_linked_programs_and_resolves_names_under_the_agents_umask_as_root(RuntimeType runtime)
    {
        var name = runtime == RuntimeType.Default ? "umask-process" : "umask-vm";
        var created = await fixture.Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = name,
            Image = "host-files:1",
            RuntimeType = runtime,
            User = HostFilesImage.UserName,
            Command = ["/usr/bin/sleep", "600"], // itself dynamically linked, run as app
        });
        try
        {
            await fixture.Compute.Containers.StartContainerAsync(created.Id);

            var (idCode, id) = await ExecAsync(created.Id, "/usr/bin/id", "-un");
            Assert.True(idCode == 0, $"id as {HostFilesImage.UserName} failed ({idCode}): {id}");
            Assert.Equal(HostFilesImage.UserName, id.Trim());

            var (hostsCode, hosts) = await ExecAsync(created.Id, "/usr/bin/getent", "hosts", name);
            Assert.True(hostsCode == 0, $"{HostFilesImage.UserName} cannot resolve its own name from /etc/hosts ({hostsCode}): {hosts}");

            var (statCode, modes) = await ExecAsync(created.Id, "/usr/bin/stat", "-c", "%n %a", "/", "/usr", "/usr/bin", "/etc", "/etc/hosts", "/etc/passwd");
            Assert.True(statCode == 0, modes);
            Assert.Equal(["/ 755", "/usr 755", "/usr/bin 755", "/etc 755", "/etc/hosts 644", "/etc/passwd 644"], modes.Trim().Split('\n'));

            // The container's processes get Docker's umask (022), not the agent's.
            var (grepCode, umask) = await ExecAsync(created.Id, "/usr/bin/grep", "Umask", "/proc/self/status", "/proc/1/status");
            Assert.True(grepCode == 0, umask);
            Assert.Equal(["/proc/self/status:Umask:\t0022", "/proc/1/status:Umask:\t0022"], umask.Trim().Split('\n'));
        }
        finally
        {
            await fixture.Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    [RootTheory]
    [InlineData(RuntimeType.Default)]
    [InlineData(RuntimeType.HyperV)]
    public async Task The_etc_the_runtime_makes_for_the_hosts_file_is_open_to_every_user_under_the_agents_umask_as_root(RuntimeType runtime)
    {
        // The image has no /etc: the runtime (process isolation) or the guest (VM isolation) makes it to put /etc/hosts there.
        var created = await fixture.Compute.Containers.CreateContainerAsync(new ContainerCreateSpec
        {
            Name = runtime == RuntimeType.Default ? "no-etc-process" : "no-etc-vm",
            Image = "host-files-no-etc:1",
            RuntimeType = runtime,
            User = "1000:1000",
            Command = ["/usr/bin/sleep", "600"],
        });
        try
        {
            await fixture.Compute.Containers.StartContainerAsync(created.Id);
            var (code, modes) = await ExecAsync(created.Id, "/usr/bin/stat", "-c", "%n %a", "/etc", "/etc/hosts");
            Assert.True(code == 0, modes);
            Assert.Equal(["/etc 755", "/etc/hosts 644"], modes.Trim().Split('\n'));
        }
        finally
        {
            await fixture.Compute.Containers.RemoveContainerAsync(created.Id, force: true);
        }
    }

    private async Task<(int Code, string Output)> ExecAsync(string id, params string[] command)
    {
        await using var process = await fixture.Compute.Containers.ExecAsync(id, new ProcessSpec { Command = command });
        var stdout = new StreamReader(process.StandardOutput, Encoding.UTF8).ReadToEndAsync();
        var stderr = process.StandardError is { } e ? new StreamReader(e, Encoding.UTF8).ReadToEndAsync() : Task.FromResult("");
        var code = await process.WaitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (code, await stdout.WaitAsync(TimeSpan.FromSeconds(10)) + await stderr.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
