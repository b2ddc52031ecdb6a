using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Containers;
using Portal.Compute.Linux.Vm;
using Portal.Contracts;
using Portal.Contracts.Guest;

namespace Portal.Compute.Tests.Vm;

/// <summary>
/// A guest that breaks the protocol is stopped with the reason as the container's exit, and the agent carries on. The
/// "VM" is a stand-in worker process (named like QEMU's) and a fake guest on the worker's socket.
/// </summary>
public sealed class VmContainerViolationTests
{
    [Fact]
    public async Task A_guest_that_breaks_the_protocol_has_its_VM_killed_and_the_container_stops_with_the_reason()
    {
        var id = Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        var dir = Path.Combine(Path.GetTempPath(), "vmv-" + id[..12]);
        Directory.CreateDirectory(dir);
        // A shell waiting in its builtin read (no child to leave behind), with QEMU's process name in its command line.
        using var worker = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "read x", "process=" + QemuCommandLine.ProcessName(id) }, RedirectStandardInput = true })!;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, VmWorker.PidFileName), worker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(dir, VmWorker.SocketName)));
            listener.Listen(1);
            var guest = Task.Run(async () => new FakeGuest(await listener.AcceptAsync(), async (g, requestId, request) =>
            {
                if (request is not HelloRequest)
                {
                    return new GuestResponse();
                }

                await g.RespondAsync(requestId, new GuestResponse { Version = GuestProtocol.Version, Kernel = "6.1.0-fake", Boot = "boot" });
                await g.SendAsync(FrameKind.Stdin, 1, [1]); // then a host-to-guest frame from the guest
                return null;
            }));

            var found = VmWorker.Find(dir, id);
            Assert.NotNull(found);
            var record = new ContainerRecord
            {
                Id = id,
                Name = "hostile",
                Image = "busybox",
                ImageId = "sha256:0",
                RuntimeType = RuntimeType.HyperV,
                State = ContainerState.Running,
                Command = ["sh"],
                Environment = [],
                WorkingDirectory = "/",
                Limits = new ContainerLimits(),
                Labels = new Dictionary<string, string>(),
                CreatedAt = DateTimeOffset.UtcNow,
            };
            var container = await VmContainer.AttachAsync(record, found, dir, Path.Combine(dir, "container.log"), ComputeOptions.DefaultLogRotation, 256L << 20, new VmOptions { RunRoot = dir }, TimeSpan.FromSeconds(30), NullLogger.Instance, CancellationToken.None);
            await using (container)
            {
                var exit = await container.WaitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(255, exit.ExitCode);
                Assert.Equal("The VM was stopped because its guest agent broke the protocol: a Stdin frame goes from the host to the guest, not back.", exit.Reason);
                await worker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)); // the worker was killed
            }

            await (await guest).DisposeAsync();
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Kill();
            }

            Directory.Delete(dir, recursive: true);
        }
    }
}
