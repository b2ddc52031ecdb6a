namespace Portal.Compute.Images;

/// <summary>Lexical checks on paths taken from archives: they decide before anything touches the disk.</summary>
internal static class ArchivePath
{
    /// <summary>
    /// Normalizes an entry name to components below the root ("./a//b/" -> ["a","b"]); the root itself is [].
    /// Returns null for an absolute name or one whose ".." components climb above the root.
    /// </summary>
    public static string[]? Normalize(string name)
    {
        if (name.StartsWith('/'))
        {
            return null;
        }

        return Walk([], name);
    }

    /// <summary>
    /// Whether a relative symlink target, read from the directory holding the link, stays below the root.
    /// Absolute targets always do: they resolve inside the container's root at run time.
    /// </summary>
    public static bool SymlinkStaysInside(IReadOnlyList<string> linkComponents, string target)
    {
        if (target.StartsWith('/'))
        {
            return true;
        }

        var parent = linkComponents.Take(linkComponents.Count - 1).ToList();
        return Walk(parent, target) is not null;
    }

    public static string Join(IReadOnlyList<string> components) => string.Join('/', components);

    private static string[]? Walk(List<string> start, string path)
    {
        var stack = new List<string>(start);
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (stack.Count == 0)
                {
                    return null;
                }

                stack.RemoveAt(stack.Count - 1);
                continue;
            }

            stack.Add(part);
        }

        return [.. stack];
    }
}
