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

    /// <summary>The virtual switch (a name the host lists, or none); null or empty takes the host's default switch.</summary>
    public string? SwitchName { get; set; }

    /// <summary>The chosen switch's type when the host listed it: published ports need a NAT switch.</summary>
    public SwitchType? SwitchType { get; set; }

    /// <summary>Published ports as docker writes them: [hostip:]hostport:port[/tcp], separated by commas or spaces.</summary>
    public string? Ports { get; set; }

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

        var switchName = string.IsNullOrWhiteSpace(SwitchName) ? null : SwitchName.Trim();
        var ports = ParsePorts(Ports, errors);
        if (ports.Count > 0 && SwitchType is { } type and not Portal.Contracts.SwitchType.Nat)
        {
            errors.Add($"Published ports need a NAT switch, and '{switchName}' is {type}: choose a NAT switch, or clear Published ports.");
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
            SwitchName = switchName,
            Ports = ports,
        }, errors);
    }

    /// <summary>
    /// Reads "8080:80, 127.0.0.1:8443:443/tcp, 9000" (a lone port publishes it on a free host port) into port mappings,
    /// adding a message naming each entry that is not of that form.
    /// </summary>
    public static IReadOnlyList<PortMapping> ParsePorts(string? text, List<string> errors)
    {
        var ports = new List<PortMapping>();
        foreach (var entry in (text ?? "").Split([',', ' ', '\n', '\r', '\t', ';'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (ParsePort(entry) is { } error)
            {
                errors.Add($"Published port '{entry}' {error} Write [host address:]host port:container port[/tcp], such as 8080:80 or 127.0.0.1:8443:443/tcp, separated by commas.");
                continue;
            }

            ports.Add(Mapping(entry));
        }

        return ports;
    }

    /// <summary>What is wrong with one entry, or null when it is well formed.</summary>
    private static string? ParsePort(string entry)
    {
        var (address, protocol) = SplitProtocol(entry);
        if (protocol is not null && !protocol.Equals("tcp", StringComparison.OrdinalIgnoreCase))
        {
            return $"uses protocol '{protocol}': only tcp is published.";
        }

        var parts = address.Split(':');
        if (parts.Length > 3)
        {
            return "has too many parts (IPv6 host addresses are not supported).";
        }

        if (parts.Length == 3 && !(System.Net.IPAddress.TryParse(parts[0], out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && parts[0].Count(c => c == '.') == 3))
        {
            return $"has '{parts[0]}' as its host address, which is not an IPv4 address.";
        }

        if (!Port(parts[^1], out var containerPort) || containerPort == 0)
        {
            return $"has '{parts[^1]}' as the container port: use a number from 1 to 65535.";
        }

        if (parts.Length >= 2 && !Port(parts[^2], out _))
        {
            return $"has '{parts[^2]}' as the host port: use a number from 1 to 65535 (0 picks a free one).";
        }

        return null;
    }

    private static PortMapping Mapping(string entry)
    {
        var (address, protocol) = SplitProtocol(entry);
        var parts = address.Split(':');
        Port(parts[^1], out var containerPort);
        var hostPort = 0;
        if (parts.Length >= 2)
        {
            Port(parts[^2], out hostPort);
        }

        return new PortMapping
        {
            HostIp = parts.Length == 3 ? parts[0] : null,
            HostPort = hostPort,
            ContainerPort = containerPort,
            Protocol = (protocol ?? "tcp").ToLowerInvariant(),
        };
    }

    private static (string Address, string? Protocol) SplitProtocol(string entry)
    {
        var slash = entry.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (entry, null) : (entry[..slash], entry[(slash + 1)..]);
    }

    private static bool Port(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 0 and <= 65535;

    private static bool ValidName(string name) =>
        char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');
}
