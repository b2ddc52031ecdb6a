using System.Globalization;

namespace Portal.Guest.Containers;

/// <summary>A user a process runs as.</summary>
internal sealed record ResolvedUser(uint Uid, uint Gid, IReadOnlyList<uint> Groups, string Name, string Home)
{
    public static ResolvedUser Root { get; } = new(0, 0, [], "root", "/root");

    public bool IsPlainRoot => Uid == 0 && Gid == 0 && Groups.Count == 0;
}

/// <summary>
/// Resolves "name", "uid", "name:group" or "uid:gid" against the container's own /etc/passwd and /etc/group, the way
/// docker does: names must exist, numbers need not (an unknown uid runs with gid 0); supplementary groups are the
/// groups that list the user by name.
/// </summary>
internal static class UserResolver
{
    public static ResolvedUser Resolve(string? spec, string passwd, string group)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            spec = "0";
        }

        var parts = spec.Split(':', 2);
        var userPart = parts[0];
        var groupPart = parts.Length > 1 ? parts[1] : null;
        var users = ParsePasswd(passwd);
        var groups = ParseGroup(group);

        PasswdEntry? entry;
        uint uid;
        if (TryParseId(userPart, out uid))
        {
            entry = users.FirstOrDefault(u => u.Uid == uid);
        }
        else
        {
            entry = users.FirstOrDefault(u => u.Name == userPart)
                ?? throw new GuestException($"unable to find user {userPart}: no matching entries in passwd file");
            uid = entry.Uid;
        }

        uint gid;
        if (string.IsNullOrEmpty(groupPart))
        {
            gid = entry?.Gid ?? 0;
        }
        else if (!TryParseId(groupPart, out gid))
        {
            gid = (groups.FirstOrDefault(g => g.Name == groupPart)
                ?? throw new GuestException($"unable to find group {groupPart}: no matching entries in group file")).Gid;
        }

        var name = entry?.Name ?? uid.ToString(CultureInfo.InvariantCulture);
        var supplementary = entry is null || !string.IsNullOrEmpty(groupPart)
            ? []
            : groups.Where(g => g.Members.Contains(entry.Name) && g.Gid != gid).Select(g => g.Gid).Distinct().ToList();
        return new ResolvedUser(uid, gid, supplementary, name, entry?.Home is { Length: > 0 } home ? home : "/");
    }

    /// <summary>uid to user name, for process listings.</summary>
    public static Dictionary<uint, string> UserNames(string passwd)
    {
        var names = new Dictionary<uint, string>();
        foreach (var user in ParsePasswd(passwd))
        {
            names.TryAdd(user.Uid, user.Name);
        }

        return names;
    }

    private static bool TryParseId(string text, out uint id) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id);

    private sealed record PasswdEntry(string Name, uint Uid, uint Gid, string Home);

    private sealed record GroupEntry(string Name, uint Gid, string[] Members);

    private static List<PasswdEntry> ParsePasswd(string text)
    {
        var entries = new List<PasswdEntry>();
        foreach (var line in text.Split('\n'))
        {
            var f = line.TrimEnd('\r').Split(':');
            if (f.Length >= 4 && !f[0].StartsWith('#') && TryParseId(f[2], out var uid) && TryParseId(f[3], out var gid))
            {
                entries.Add(new PasswdEntry(f[0], uid, gid, f.Length > 5 ? f[5] : ""));
            }
        }

        return entries;
    }

    private static List<GroupEntry> ParseGroup(string text)
    {
        var entries = new List<GroupEntry>();
        foreach (var line in text.Split('\n'))
        {
            var f = line.TrimEnd('\r').Split(':');
            if (f.Length >= 3 && !f[0].StartsWith('#') && TryParseId(f[2], out var gid))
            {
                var members = f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
                entries.Add(new GroupEntry(f[0], gid, members));
            }
        }

        return entries;
    }
}
