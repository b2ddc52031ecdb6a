using System.Globalization;
using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>
/// The create dialog's fields, mirroring New-Container (-Name, -Image, -RuntimeType, command, environment, limits), and
/// their translation to the agent's <see cref="ContainerCreateSpec"/> with a clear message for each mistake.
/// </summary>
public sealed class CreateContainerForm
{
    public string? HostId { get; set; }

    public string? Name { get; set; }

    public string? Image { get; set; } = "busybox:latest";

    public RuntimeType? RuntimeType { get; set; }

    public string? Command { get; set; }

    /// <summary>KEY=VALUE, one per line.</summary>
    public string? Environment { get; set; }

    public double? MemoryMiB { get; set; }

    public double? Cpus { get; set; }

    public long? PidsLimit { get; set; }

    public bool Tty { get; set; }

    public bool StartAfterCreate { get; set; }

    // TODO(networking merge): SwitchName and published ports. ContainerCreateSpec has no network fields yet; when the
    // virtual switch work lands in Portal.Contracts, add a Switch field (text, passed through) and Ports ("8080:80/tcp").

    /// <summary>The spec, or the list of what to fix.</summary>
    public (ContainerCreateSpec? Spec, IReadOnlyList<string> Errors) ToSpec()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(HostId))
        {
            errors.Add("Choose the host to create the container on.");
        }

        if (string.IsNullOrWhiteSpace(Image))
        {
            errors.Add("Enter an image, for example busybox:latest (the Images page lists what this host has).");
        }

        var name = string.IsNullOrWhiteSpace(Name) ? null : Name.Trim();
        if (name is not null && !ValidName(name))
        {
            errors.Add($"'{name}' is not a container name: start with a letter or digit, then use letters, digits, '_', '.' or '-'.");
        }

        IReadOnlyList<string> command = [];
        try
        {
            command = CommandLine.Split(Command);
        }
        catch (FormatException e)
        {
            errors.Add(e.Message);
        }

        var environment = new List<string>();
        var lineNumber = 0;
        foreach (var raw in (Environment ?? "").Split('\n'))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.IndexOf('=', StringComparison.Ordinal) <= 0)
            {
                errors.Add($"Environment line {lineNumber.ToString(CultureInfo.InvariantCulture)} ('{line}') is not KEY=VALUE: write one variable per line, such as MODE=demo.");
                continue;
            }

            environment.Add(line);
        }

        if (MemoryMiB is <= 0)
        {
            errors.Add("The memory limit must be more than 0 MiB; leave it empty for no limit.");
        }

        if (Cpus is <= 0)
        {
            errors.Add("The CPU limit must be more than 0 cores (0.5 is half a core); leave it empty for no limit.");
        }

        if (PidsLimit is <= 0)
        {
            errors.Add("The process limit must be at least 1; leave it empty for the host's default.");
        }

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        return (new ContainerCreateSpec
        {
            Name = name,
            Image = Image!.Trim(),
            RuntimeType = RuntimeType,
            Command = command.Count > 0 ? command : null,
            Environment = environment,
            Tty = Tty,
            OpenStdin = Tty,
            Limits = new ContainerLimits
            {
                MemoryBytes = MemoryMiB is { } m ? (long)(m * 1024 * 1024) : null,
                Cpus = Cpus,
                PidsLimit = PidsLimit,
            },
        }, errors);
    }

    private static bool ValidName(string name) =>
        char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');
}
