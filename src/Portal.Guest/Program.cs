using Portal.Guest;
using Portal.Guest.Boot;
using Portal.Guest.Wire;
using Portal.Guest.Containers;
using Portal.Shared.Native;
using Portal.Guest.Processes;

if (Environment.ProcessId != 1)
{
    await Console.Error.WriteLineAsync("portal-guest is the init of a container VM (PID 1 of its initramfs); it does not run on a host.");
    return 2;
}

// A closed pipe must never kill PID 1 (that panics the kernel); children get default dispositions back at spawn.
Libc.IgnoreSigpipe();
try
{
    GuestLog.Info("started");
    GuestBoot.MountKernelFilesystems();
    var filesystems = GuestBoot.LoadModules();
    var port = await GuestBoot.OpenPortAsync(TimeSpan.FromSeconds(60));
    var queue = new OutboundQueue();
    var supervisor = new ProcessSupervisor(queue);
    var agent = new GuestAgent(queue, supervisor, new ContainerRoot(), filesystems);
    var channel = new GuestPort(port, queue, agent.OnFrame);
    agent.Port = channel;
    channel.Start();
    await agent.PoweringOff;
    GuestLog.Info("powering off");
}
catch (Exception e)
{
    GuestLog.Error($"fatal: {e}");
}

// PID 1 must not return: power off (the host sees QEMU exit).
GuestAgent.PowerOff();
return 1;
