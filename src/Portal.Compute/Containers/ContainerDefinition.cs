using Portal.Compute.Images;
using Portal.Compute.Networking;
using Portal.Contracts;

namespace Portal.Compute.Containers;

/// <summary>
/// A create request checked and merged with its image's defaults into the record of a new container: command
/// (entrypoint + cmd), environment, working directory, user, limits. Pure: no files, no processes.
/// </summary>
public static class ContainerDefinition
{
    /// <summary>Checks what can be checked before a name or an address is taken.</summary>
    public static void Validate(ContainerCreateSpec spec, int hostCpus)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(spec.Image))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "No image given: name an image (for example busybox) to create the container from.");
        }

        if (spec.RuntimeType is { } runtimeType && !Enum.IsDefined(runtimeType))
        {
            throw UnknownRuntimeType(runtimeType);
        }

        ValidateLimits(spec.Limits, hostCpus);
        _ = ContainerSecurityPolicy.Normalize(spec.Security);
        var invalidEnv = spec.Environment.FirstOrDefault(e => e.Length == 0 || e[0] == '=' || e.Contains('\0'));
        if (invalidEnv is not null)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid environment entry '{invalidEnv}': use NAME=value.");
        }
    }

    public static ComputeException UnknownRuntimeType(RuntimeType runtimeType) =>
        new(ComputeErrorCode.InvalidArgument, $"Unknown runtime type '{runtimeType}': use Default (process isolation) or HyperV (VM isolation).");

    /// <summary>The new container's record, in state Created.</summary>
    public static ContainerRecord Build(ContainerCreateSpec spec, ImageRecord image, RuntimeType runtimeType, string id, string name, NetworkReservation network, DateTimeOffset now)
    {
        var entrypoint = spec.Entrypoint ?? image.Config.Entrypoint;
        var cmd = spec.Command ?? (spec.Entrypoint is null ? image.Config.Cmd : []);
        var command = entrypoint.Concat(cmd).ToList();
        if (command.Count == 0)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Image '{spec.Image}' has no default command and none was given: say which program the container runs.");
        }

        var workingDirectory = string.IsNullOrEmpty(spec.WorkingDirectory)
            ? (string.IsNullOrEmpty(image.Config.WorkingDir) ? "/" : image.Config.WorkingDir)
            : spec.WorkingDirectory;
        if (!workingDirectory.StartsWith('/'))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Working directory '{workingDirectory}' must be an absolute path.");
        }

        return new ContainerRecord
        {
            Id = id,
            Name = name,
            Image = spec.Image,
            ImageId = image.Id,
            RuntimeType = runtimeType,
            State = ContainerState.Created,
            Command = command,
            Environment = EnvironmentBuilder.Merge([EnvironmentBuilder.DefaultPath], image.Config.Env, [$"HOSTNAME={name}"], spec.Environment),
            WorkingDirectory = workingDirectory,
            User = string.IsNullOrEmpty(spec.User) ? image.Config.User : spec.User,
            Tty = spec.Tty,
            OpenStdin = spec.OpenStdin,
            Limits = spec.Limits,
            Labels = spec.Labels,
            CreatedAt = now,
            SwitchId = network.SwitchId,
            SwitchName = network.SwitchName,
            IpAddress = network.IpAddress,
            MacAddress = network.MacAddress,
            Ports = network.Ports,
            Security = ContainerSecurityPolicy.Normalize(spec.Security),
        };
    }

    private static void ValidateLimits(ContainerLimits limits, int hostCpus)
    {
        if (limits.MemoryBytes is < 6L << 20)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Memory limit must be at least 6 MiB.");
        }

        if (limits.Cpus is { } cpus && (cpus <= 0 || cpus > hostCpus))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"CPU limit must be more than 0 and at most {hostCpus} (this host's CPUs).");
        }

        if (limits.PidsLimit is < 1)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, "Pids limit must be at least 1.");
        }

        if (limits.LogMaxBytes is < LogRotation.MinMaxBytes)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"The log's maximum size must be at least {LogRotation.MinMaxBytes} bytes (docker: --log-opt max-size=1m).");
        }

        if (limits.LogMaxFiles is < 1 or > LogRotation.MaxMaxFiles)
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"The number of log files must be 1 to {LogRotation.MaxMaxFiles} (docker: --log-opt max-file=3).");
        }
    }
}
