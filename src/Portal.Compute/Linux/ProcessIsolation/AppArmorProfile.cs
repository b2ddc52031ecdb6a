using System.Text;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// The default AppArmor profile for process-isolated containers: Docker's <c>docker-default</c> (moby
/// <c>profiles/apparmor/template.go</c>, the profile containerd and Podman replicate), with this engine's name and
/// its own peers for signals (the agent and conmon run unconfined; runc and crun as Docker allows them).
/// </summary>
internal static class AppArmorProfile
{
    public const string DefaultName = "portal-default";

    /// <summary>The profile's text; <paramref name="tunables"/> and <paramref name="baseAbstraction"/> say whether the host has those includes.</summary>
    public static string Generate(string name, bool tunables, bool baseAbstraction)
    {
        var text = new StringBuilder();
        if (tunables)
        {
            text.Append("#include <tunables/global>\n\n");
        }
        else
        {
            text.Append("@{PROC}=/proc/\n\n"); // what tunables/global would define
        }

        text.Append("profile ").Append(name).Append(" flags=(attach_disconnected,mediate_deleted) {\n");
        if (baseAbstraction)
        {
            text.Append("  #include <abstractions/base>\n\n");
        }

        text.Append(
            $$"""
              network,
              capability,
              file,
              umount,
              # Host (privileged) processes may send signals to container processes.
              signal (receive) peer=unconfined,
              # The OCI runtime may send signals to container processes (stop, kill).
              signal (receive) peer=runc,
              signal (receive) peer=crun,
              # Container processes may send signals amongst themselves.
              signal (send,receive) peer={{name}},

              deny @{PROC}/* w,   # deny write for all files directly in /proc (not in a subdir)
              # deny write to files not in /proc/<number>/** or /proc/sys/**
              deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
              deny @{PROC}/sys/[^k]** w,  # deny /proc/sys except /proc/sys/k* (effectively /proc/sys/kernel)
              deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,  # deny everything except shm* in /proc/sys/kernel/
              deny @{PROC}/sysrq-trigger rwklx,
              deny @{PROC}/kcore rwklx,

              deny mount,

              deny /sys/[^f]*/** wklx,
              deny /sys/f[^s]*/** wklx,
              deny /sys/fs/[^c]*/** wklx,
              deny /sys/fs/c[^g]*/** wklx,
              deny /sys/fs/cg[^r]*/** wklx,
              deny /sys/firmware/** rwklx,
              deny /sys/devices/virtual/powercap/** rwklx,
              deny /sys/kernel/security/** rwklx,

              # suppress ptrace denials when using 'ps' inside a container
              ptrace (trace,read,tracedby,readby) peer={{name}},
            }

            """);
        return text.ToString();
    }
}
