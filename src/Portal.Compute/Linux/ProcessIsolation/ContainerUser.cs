using System.Globalization;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>A user spec ("name", "uid", "name:group", "uid:gid") resolved against the container's own /etc/passwd and /etc/group.</summary>
internal sealed record ContainerUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string Name)
{
    public static readonly ContainerUser Root = new(0, 0, [], "root");

    public static ContainerUser Resolve(string? spec, string rootfs)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            spec = "0";
        }

        var passwd = ReadDatabase(Path.Combine(rootfs, "etc/passwd"));
        var groups = ReadDatabase(Path.Combine(rootfs, "etc/group"));
        var parts = spec.Split(':', 2);
        string[]? entry = IsNumber(parts[0])
            ? passwd.FirstOrDefault(p => p.Length > 3 && p[2] == parts[0])
            : passwd.FirstOrDefault(p => p[0] == parts[0]);
        uint uid;
        uint gid;
        string name;
        if (entry is not null && entry.Length > 3)
        {
            uid = uint.Parse(entry[2], CultureInfo.InvariantCulture);
            gid = uint.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out var g) ? g : 0;
            name = entry[0];
        }
        else if (IsNumber(parts[0]))
        {
            uid = uint.Parse(parts[0], CultureInfo.InvariantCulture);
            gid = uid == 0 ? 0 : uid;
            name = parts[0];
        }
        else
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"User '{parts[0]}' is not in the image's /etc/passwd. Use a numeric uid[:gid] or a user the image defines.");
        }

        if (parts.Length == 2)
        {
            if (IsNumber(parts[1]))
            {
                gid = uint.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else
            {
                var group = groups.FirstOrDefault(g => g[0] == parts[1] && g.Length > 2)
                    ?? throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Group '{parts[1]}' is not in the image's /etc/group. Use a numeric gid or a group the image defines.");
                gid = uint.Parse(group[2], CultureInfo.InvariantCulture);
            }
        }

        var additional = groups
            .Where(g => g.Length > 3 && g[3].Split(',').Contains(name) && uint.TryParse(g[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(g => uint.Parse(g[2], CultureInfo.InvariantCulture))
            .Where(g => g != gid)
            .Distinct()
            .ToArray();
        return new ContainerUser(uid, gid, additional, name);
    }

    /// <summary>uid to user name, from the container's /etc/passwd; the number itself when unknown.</summary>
    public static Func<int, string> NameLookup(string rootfs)
    {
        var names = ReadDatabase(Path.Combine(rootfs, "etc/passwd"))
            .Where(p => p.Length > 2 && int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .GroupBy(p => int.Parse(p[2], CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.First()[0]);
        return uid => names.TryGetValue(uid, out var name) ? name : uid.ToString(CultureInfo.InvariantCulture);
    }

    private static bool IsNumber(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static List<string[]> ReadDatabase(string path)
    {
        try
        {
            // The file is inside the container's root: never follow a symlink out of it.
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null || info.Length > 4 << 20)
            {
                return [];
            }

            return File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}
