using Portal.Guest.Containers;

namespace Portal.Guest.Processes;

/// <summary>The environment and executable of a process, with the defaults a container engine supplies.</summary>
internal static class ProcessEnvironment
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>The requested variables plus PATH, HOSTNAME, HOME (and TERM with a TTY) when not given.</summary>
    public static List<string> Build(IReadOnlyList<string> env, ResolvedUser user, string? hostname, bool tty)
    {
        var result = new List<string>(env.Count + 4);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in env)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? entry : entry[..eq];
            if (name.Length > 0 && names.Add(name))
            {
                result.Add(eq < 0 ? entry + "=" : entry);
            }
        }

        void Default(string name, string? value)
        {
            if (value is not null && names.Add(name))
            {
                result.Add($"{name}={value}");
            }
        }

        Default("PATH", DefaultPath);
        Default("HOSTNAME", hostname);
        Default("HOME", user.Home);
        Default("TERM", tty ? "xterm" : null);
        return result;
    }

    public static string? Get(IReadOnlyList<string> env, string name)
    {
        var prefix = name + "=";
        return env.FirstOrDefault(e => e.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];
    }

    /// <summary>Finds the program like execvp does, with the process's own PATH (not the agent's).</summary>
    public static string ResolveExecutable(string program, string? path, string cwd, Func<string, bool> isExecutableFile)
    {
        if (string.IsNullOrEmpty(program))
        {
            throw new GuestException("no command given");
        }

        if (program.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(program.StartsWith('/') ? program : Path.Combine(cwd, program));
            return isExecutableFile(full) ? full : throw new GuestException($"exec {program}: no such executable file");
        }

        foreach (var dir in (path ?? DefaultPath).Split(':'))
        {
            var candidate = Path.Combine(dir.Length == 0 ? cwd : (dir.StartsWith('/') ? dir : Path.Combine(cwd, dir)), program);
            if (isExecutableFile(candidate))
            {
                return candidate;
            }
        }

        throw new GuestException($"exec: \"{program}\": executable file not found in $PATH");
    }

    public static bool IsExecutableFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return false;
            }

            const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            return (info.UnixFileMode & AnyExecute) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
