namespace Portal.Compute.Containers;

/// <summary>
/// How a container's log is bounded, as docker's json-file driver does: the current file is rotated when it reaches
/// <see cref="MaxBytes"/>, and at most <see cref="MaxFiles"/> files are kept (the current one and "container.log.1" ..
/// ".(MaxFiles-1)", newest first). One file means the log starts over when it is full.
/// </summary>
public sealed record LogRotation(long MaxBytes, int MaxFiles)
{
    public const long MinMaxBytes = 4096;

    public const int MaxMaxFiles = 100;

    /// <summary>A container's rotation: its own limits, else the host's defaults.</summary>
    public static LogRotation For(Portal.Contracts.ContainerLimits limits, LogRotation defaults) =>
        new(limits.LogMaxBytes ?? defaults.MaxBytes, limits.LogMaxFiles ?? defaults.MaxFiles);

    /// <summary>The <paramref name="index"/>-th older file of the log at <paramref name="path"/> (1 is the newest rotated one).</summary>
    public static string RotatedPath(string path, int index) => $"{path}.{index}";

    /// <summary>The log's files that exist, oldest first, the current one last.</summary>
    public static IReadOnlyList<string> Files(string path)
    {
        var files = new List<string>();
        for (var i = MaxMaxFiles; i >= 1; i--)
        {
            var rotated = RotatedPath(path, i);
            if (File.Exists(rotated))
            {
                files.Add(rotated);
            }
        }

        files.Add(path);
        return files;
    }

    /// <summary>
    /// Shifts the files: the oldest beyond the count goes, ".i" becomes ".(i+1)", the current file becomes ".1" (or goes,
    /// with one file). The caller then starts a new current file. <paramref name="current"/> names the file that becomes
    /// ".1" when it is not <paramref name="path"/> itself (conmon's replaced file, kept under another name).
    /// </summary>
    public void Rotate(string path, string? current = null)
    {
        current ??= path;
        for (var i = MaxMaxFiles; i >= MaxFiles; i--)
        {
            File.Delete(RotatedPath(path, i));
        }

        if (MaxFiles == 1)
        {
            File.Delete(current);
            return;
        }

        for (var i = MaxFiles - 2; i >= 1; i--)
        {
            var from = RotatedPath(path, i);
            if (File.Exists(from))
            {
                File.Move(from, RotatedPath(path, i + 1), overwrite: true);
            }
        }

        if (File.Exists(current))
        {
            File.Move(current, RotatedPath(path, 1), overwrite: true);
        }
    }
}
