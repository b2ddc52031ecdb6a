using System.Globalization;

namespace Portal.Compute.Linux.Vm;

/// <summary>
/// One unprivileged account per running VM worker (Hyper-V's per-VM virtual accounts), unique among them: the uid
/// (= gid) is allocated when the worker starts, in the range <c>uidBase .. uidBase + 2^24 - 1</c>, preferring the one
/// derived from the container id (<see cref="VmWorker.UidFor"/>) and otherwise the next free one. A uid is free when
/// no other VM's run directory holds it, no host account or group has it and no host process runs under it. The
/// allocation is the file <c>uid</c> in the VM's run directory: it survives agent restarts (re-adopted workers keep
/// theirs) and is released with the run directory when the VM is cleaned up.
/// </summary>
internal sealed class VmWorkerUids
{
    public const string FileName = "uid";

    /// <summary>How many uids the range holds (the id-derived preference uses 24 bits of the id).</summary>
    public const uint RangeSize = 1u << 24;

    private readonly string _vmRoot;
    private readonly uint _uidBase;
    private readonly Func<IReadOnlySet<uint>> _takenOnHost;
    private readonly Lock _lock = new();

    /// <param name="takenOnHost">The ids the host already uses (a seam: unit tests pass their own).</param>
    public VmWorkerUids(string vmRoot, uint uidBase, Func<IReadOnlySet<uint>>? takenOnHost = null)
    {
        _vmRoot = vmRoot;
        _uidBase = uidBase;
        _takenOnHost = takenOnHost ?? TakenOnHost;
    }

    /// <summary>The uid of the container's worker: the one it already holds, or a newly allocated one (recorded in its run directory).</summary>
    public uint Allocate(string containerId)
    {
        lock (_lock)
        {
            var directory = Path.Combine(_vmRoot, containerId);
            if (Read(Path.Combine(directory, FileName)) is { } held)
            {
                return held;
            }

            var taken = new HashSet<uint>(_takenOnHost());
            if (Directory.Exists(_vmRoot))
            {
                foreach (var other in Directory.EnumerateDirectories(_vmRoot))
                {
                    if (Read(Path.Combine(other, FileName)) is { } uid)
                    {
                        taken.Add(uid);
                    }
                }
            }

            var preferred = VmWorker.UidFor(containerId, _uidBase) - _uidBase;
            for (uint i = 0; i < RangeSize; i++)
            {
                var uid = _uidBase + ((preferred + i) % RangeSize);
                if (!taken.Contains(uid))
                {
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    var file = Path.Combine(directory, FileName);
                    File.WriteAllText(file + ".tmp", uid.ToString(CultureInfo.InvariantCulture));
                    File.Move(file + ".tmp", file, overwrite: true);
                    return uid;
                }
            }

            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"No VM worker uid is free between {_uidBase} and {_uidBase + RangeSize - 1}; stop some VM-isolated containers or set a different WorkerUidBase.");
        }
    }

    /// <summary>The uid a VM's run directory records, or null.</summary>
    public static uint? Read(string file)
    {
        try
        {
            return uint.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Ids of host accounts and groups (/etc/passwd, /etc/group) and the uids of running processes.</summary>
    private static IReadOnlySet<uint> TakenOnHost()
    {
        var taken = new HashSet<uint>();
        // The host's own account databases (trusted, read line by line whatever their size), not a container's file.
        foreach (var database in new[] { "/etc/passwd", "/etc/group" })
        {
            if (File.Exists(database))
            {
                foreach (var line in File.ReadLines(database))
                {
                    if (line.Split(':') is [_, _, var id, ..] && uint.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
                    {
                        taken.Add(number);
                    }
                }
            }
        }

        foreach (var process in ProcessTable.All())
        {
            taken.Add((uint)process.Uid);
        }

        return taken;
    }
}
