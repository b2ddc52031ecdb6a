using Portal.Client;
using Portal.Contracts;

namespace Portal.PowerShell.Model;

/// <summary>What Install-ContainerImage emits: the image as the agent keeps it.</summary>
public sealed record PortalImage
{
    public required string Id { get; init; }

    /// <summary>The image's names ("nginx:1.27", "127.0.0.1:5000/team/app:1").</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>"repository@sha256:..." of the manifests it was pulled by.</summary>
    public IReadOnlyList<string> RepoDigests { get; init; } = [];

    public long SizeBytes { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The owning team(s); empty for the administrators' images, which every team may use.</summary>
    public IReadOnlyList<string> Teams { get; init; } = [];

    public required AgentEndpoint Agent { get; init; }

    public override string ToString() => Tags.FirstOrDefault() ?? Id;

    public static PortalImage From(ImageInfo i, AgentEndpoint agent) => new()
    {
        Id = i.Id,
        Tags = i.Tags,
        RepoDigests = i.RepoDigests,
        SizeBytes = i.SizeBytes,
        CreatedAt = i.CreatedAt,
        Teams = i.Teams,
        Agent = agent,
    };
}
