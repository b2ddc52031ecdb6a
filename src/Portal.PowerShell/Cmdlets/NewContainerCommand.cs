using System.Collections;
using System.Management.Automation;
using Portal.Contracts;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// New-Container -Name HYPVCON -ContainerImageName NanoServer -SwitchName "Virtual Switch" -RuntimeType HyperV.
/// Without -Command the image's command runs with an open standard input, so the container keeps running until
/// Stop-Container, as the seed's containers do (busybox's sh would otherwise read end-of-file and exit).
/// </summary>
[Cmdlet(VerbsCommon.New, "Container", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(PortalContainer))]
public sealed class NewContainerCommand : PortalCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>An image reference or an alias the agent maps (NanoServer, WindowsServerCore: busybox here).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    [Alias("Image", "ImageName")]
    public string ContainerImageName { get; set; } = "";

    /// <summary>The virtual switch: a name, an alias ("Virtual Switch", NAT) or none; omitted: the host's default switch.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SwitchName { get; set; }

    /// <summary>Ports to publish on the host, as docker's -p: 8080:80, 127.0.0.1:8080:80, or 80 (a free host port).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [Alias("Publish", "PortMapping")]
    public string[]? Port { get; set; }

    /// <summary>Default: process isolation; HyperV: VM isolation. Omitted: the host's default.</summary>
    [Parameter]
    public RuntimeType? RuntimeType { get; set; }

    /// <summary>The command to run instead of the image's (sleep, 300 or a single string split on spaces).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Command { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Entrypoint { get; set; }

    /// <summary>KEY=VALUE strings or a hashtable.</summary>
    [Parameter]
    [EnvironmentTransformation]
    public string[] Environment { get; set; } = [];

    [Parameter]
    public string? WorkingDirectory { get; set; }

    [Parameter]
    public string? User { get; set; }

    /// <summary>Memory limit in bytes (PowerShell reads 256MB as bytes).</summary>
    [Parameter]
    [ValidateRange(4L << 20, long.MaxValue)]
    [Alias("MemoryBytes", "MemoryStartupBytes")]
    public long? Memory { get; set; }

    [Parameter]
    [ValidateRange(0.01, 1024)]
    [Alias("ProcessorCount")]
    public double? Cpus { get; set; }

    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long? PidsLimit { get; set; }

    [Parameter]
    public Hashtable? Label { get; set; }

    /// <summary>Capabilities to drop from the isolation's defaults (docker's --cap-drop): names such as NET_RAW, or ALL.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? CapabilityDrop { get; set; }

    /// <summary>Capabilities to add (docker's --cap-add), within the host's policy; the agent refuses others with the reason.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? CapabilityAdd { get; set; }

    /// <summary>Mount the container's root read-only (docker's --read-only); -Tmpfs gives it writable places.</summary>
    [Parameter]
    public SwitchParameter ReadOnlyRootFilesystem { get; set; }

    /// <summary>Paths inside the container to mount a tmpfs on (docker's --tmpfs PATH).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Tmpfs { get; set; }

    /// <summary>Give the first process a terminal.</summary>
    [Parameter]
    public SwitchParameter Tty { get; set; }

    /// <summary>Keep the first process's standard input open; on by default without -Command (see the remarks).</summary>
    [Parameter]
    public SwitchParameter Interactive { get; set; }

    protected override void ProcessRecord()
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Label ?? [])
        {
            labels[entry.Key.ToString()!] = entry.Value?.ToString() ?? "";
        }

        var command = Command is [var single] && single.Contains(' ', StringComparison.Ordinal) ? single.Split(' ', StringSplitOptions.RemoveEmptyEntries) : Command;
        var spec = new ContainerCreateSpec
        {
            Name = Name,
            Image = ContainerImageName,
            RuntimeType = RuntimeType,
            Command = command,
            Entrypoint = Entrypoint,
            Environment = Environment,
            WorkingDirectory = WorkingDirectory,
            User = User,
            Tty = Tty,
            OpenStdin = MyInvocation.BoundParameters.ContainsKey(nameof(Interactive)) ? Interactive.IsPresent : command is null && Entrypoint is null,
            Limits = new ContainerLimits { MemoryBytes = Memory, Cpus = Cpus, PidsLimit = PidsLimit },
            Labels = labels,
            SwitchName = SwitchName,
            Ports = (Port ?? []).Select(ParsePort).ToList(),
            Security = new ContainerSecurity
            {
                CapabilityDrop = CapabilityDrop ?? [],
                CapabilityAdd = CapabilityAdd ?? [],
                ReadOnlyRootFilesystem = ReadOnlyRootFilesystem,
                Tmpfs = (Tmpfs ?? []).Select(p => new TmpfsMount { Path = p }).ToList(),
            },
        };

        var what = $"{Name ?? "(generated name)"} from {ContainerImageName}, runtime {RuntimeType?.ToString() ?? "host default"}";
        if (!ShouldProcess(what, "New-Container"))
        {
            return;
        }

        Try(() =>
        {
            // The warnings of a team policy in Warn mode: the container is made, and the caller is told why it should not be.
            var created = Await(Client.CreateContainerWithWarningsAsync(spec, Cancellation));
            foreach (var warning in created.Warnings)
            {
                WriteWarning(warning);
            }

            WriteObject(PortalContainer.From(created.Container, Agent));
        }, Name ?? ContainerImageName);
    }

    /// <summary>[hostip:][hostport:]port[/tcp], as docker's -p.</summary>
    private static PortMapping ParsePort(string text)
    {
        var protocol = "tcp";
        var spec = text.Trim();
        if (spec.LastIndexOf('/') is var slash and > 0)
        {
            protocol = spec[(slash + 1)..];
            spec = spec[..slash];
        }

        var parts = spec.Split(':');
        static int Number(string value, string text) => int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new PSArgumentException($"Invalid port mapping '{text}': use HOSTPORT:PORT, HOSTIP:HOSTPORT:PORT or PORT (for example 8080:80).");
        return parts switch
        {
            [var port] => new PortMapping { ContainerPort = Number(port, text), Protocol = protocol },
            [var host, var port] => new PortMapping { HostPort = host.Length == 0 ? 0 : Number(host, text), ContainerPort = Number(port, text), Protocol = protocol },
            [var ip, var host, var port] => new PortMapping { HostIp = ip.Length == 0 ? null : ip, HostPort = host.Length == 0 ? 0 : Number(host, text), ContainerPort = Number(port, text), Protocol = protocol },
            _ => throw new PSArgumentException($"Invalid port mapping '{text}': use HOSTPORT:PORT, HOSTIP:HOSTPORT:PORT or PORT (for example 8080:80)."),
        };
    }
}

/// <summary>Lets -Environment take a hashtable as well as KEY=VALUE strings.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class EnvironmentTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject ps ? ps.BaseObject : inputData;
        return value is IDictionary dictionary
            ? dictionary.Cast<DictionaryEntry>().Select(e => $"{e.Key}={e.Value}").ToArray()
            : inputData;
    }
}
