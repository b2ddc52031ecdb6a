namespace Portal.Contracts;

public enum ContainerEventKind
{
    Created,
    Started,
    Stopping,
    Stopped,
    Removed,
    Converted,
    Failed,
}

/// <summary>Something that happened to a container; Container is its state right after.</summary>
public sealed record ContainerEvent(ContainerEventKind Kind, ContainerInfo Container, DateTimeOffset At, string? Message = null);

/// <summary>Where a long operation is: step <see cref="Step"/> of <see cref="Steps"/>, and what that step does.</summary>
public sealed record OperationStep(int Step, int Steps, string Message);

/// <summary>
/// A conversion's stream: each step as it begins, then (as the last item) the converted container, with the warnings its
/// team's isolation policy gave the conversion in Warn mode (null or empty: none; older agents never send them).
/// </summary>
public sealed record ConversionUpdate(OperationStep? Step, ContainerInfo? Container, IReadOnlyList<string>? Warnings = null);

public enum LogStream
{
    Stdout,
    Stderr,
}

/// <summary>One chunk of container output as logged (a whole line unless the process wrote a partial one).</summary>
public sealed record LogEntry(DateTimeOffset Timestamp, LogStream Stream, string Text);

/// <summary>Filters for enumerating compute systems (HcsEnumerateComputeSystems' query); empty means all.</summary>
public sealed record ComputeSystemQuery
{
    public IReadOnlyList<string> Ids { get; init; } = [];
    public IReadOnlyList<string> Names { get; init; } = [];
    public IReadOnlyList<string> Owners { get; init; } = [];
    public IReadOnlyList<ComputeSystemType> Types { get; init; } = [];
}
