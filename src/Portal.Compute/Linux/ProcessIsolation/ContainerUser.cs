using System.Globalization;
using System.Text;
using Portal.Compute.Images;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>A user spec ("name", "uid", "name:group", "uid:gid") resolved against the container's own /etc/passwd and /etc/group.</summary>
internal sealed record ContainerUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string Name)
{
    public static readonly ContainerUser Root = new(0, 0, [], "root") { Home = "/root" };

    /// <summary>
    /// The user's home from the container's /etc/passwd ("/" when it has none, as Docker). The agent passes it as HOME,
    /// so the runtime never opens the container's /etc/passwd itself (through a FIFO there it would block).
    /// </summary>
    public string Home { get; init; } = "/";

    public static ContainerUser Resolve(string? spec, string rootfs)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            spec = "0";
        }

        var (passwd, passwdProblem, passwdBlocks) = ReadDatabase(rootfs, "etc/passwd");
        var (groups, groupProblem, groupBlocks) = ReadDatabase(rootfs, "etc/group");
        if (passwdBlocks || groupBlocks)
        {
            // The OCI runtime opens these files inside the container to set up the process's user (runc always does):
            // through a FIFO it would wait forever, so the start or exec is refused rather than left hanging.
            var (file, problem) = passwdBlocks ? ("/etc/passwd", passwdProblem) : ("/etc/group", groupProblem);
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"The container's {file} cannot be used: {problem}. The OCI runtime reads it to set up the process's user and would block. Make it a regular file again (or recreate the container).");
        }

        var parts = spec.Split(':', 2);
        string[]? entry = IsNumber(parts[0])
            ? passwd.FirstOrDefault(p => p.Length > 3 && p[2] == parts[0])
            : passwd.FirstOrDefault(p => p[0] == parts[0] && p.Length > 3 && IsId(p[2]));
        uint uid;
        uint gid;
        string name;
        var home = "/";
        if (entry is not null && entry.Length > 3)
        {
            home = entry.Length > 5 && entry[5].StartsWith('/') ? entry[5] : "/";
            uid = ParseId(entry[2], "uid");
            gid = uint.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out var g) ? g : 0;
            name = entry[0];
        }
        else if (IsNumber(parts[0]))
        {
            uid = ParseId(parts[0], "uid");
            gid = uid == 0 ? 0 : uid;
            name = parts[0];
        }
        else
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, passwdProblem is not null
                ? $"User '{parts[0]}' cannot be looked up: the container's /etc/passwd was not read because {passwdProblem}. Use a numeric uid[:gid], or make /etc/passwd a regular file."
                : $"User '{parts[0]}' is not in the image's /etc/passwd. Use a numeric uid[:gid] or a user the image defines.");
        }

        if (parts.Length == 2)
        {
            if (IsNumber(parts[1]))
            {
                gid = ParseId(parts[1], "gid");
            }
            else
            {
                var group = groups.FirstOrDefault(g => g[0] == parts[1] && g.Length > 2 && IsId(g[2]))
                    ?? throw new ComputeException(ComputeErrorCode.InvalidArgument, groupProblem is not null
                        ? $"Group '{parts[1]}' cannot be looked up: the container's /etc/group was not read because {groupProblem}. Use a numeric gid, or make /etc/group a regular file."
                        : $"Group '{parts[1]}' is not in the image's /etc/group. Use a numeric gid or a group the image defines.");
                gid = uint.Parse(group[2], CultureInfo.InvariantCulture);
            }
        }

        var additional = groups
            .Where(g => g.Length > 3 && g[3].Split(',').Contains(name) && uint.TryParse(g[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(g => uint.Parse(g[2], CultureInfo.InvariantCulture))
            .Where(g => g != gid)
            .Distinct()
            .ToArray();
        return new ContainerUser(uid, gid, additional, name) { Home = home };
    }

    /// <summary>uid to user name, from the container's /etc/passwd; the number itself when unknown.</summary>
    public static Func<int, string> NameLookup(string rootfs)
    {
        var names = ReadDatabase(rootfs, "etc/passwd").Entries
            .Where(p => p.Length > 2 && int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .GroupBy(p => int.Parse(p[2], CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.First()[0]);
        return uid => names.TryGetValue(uid, out var name) ? name : uid.ToString(CultureInfo.InvariantCulture);
    }

    private static bool IsNumber(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    /// <summary>A number that fits a uid or gid (the container's files may hold anything).</summary>
    private static bool IsId(string s) => uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out _);

    private static uint ParseId(string s, string what) =>
        uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new ComputeException(ComputeErrorCode.InvalidArgument, $"The {what} '{s}' is out of range: use a number from 0 to {uint.MaxValue}.");

    /// <summary>
    /// The lines of a file in the container's root, split at ':'. Read inside the root (never a host file through a
    /// symlink), without blocking (a FIFO is refused, not opened) and size-bounded: the container controls this file.
    /// </summary>
    private static (List<string[]> Entries, string? Problem, bool Blocks) ReadDatabase(string rootfs, string relative)
    {
        var file = ContainedPath.ReadFile(rootfs, relative);
        if (file.Content is null)
        {
            return ([], file.Problem, file.Blocks);
        }

        var entries = Encoding.UTF8.GetString(file.Content)
            .Split('\n')
            .Select(l => l.TrimEnd('\r'))
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => l.Split(':'))
            .ToList();
        return (entries, null, false);
    }
}
