using System.Text.Json.Serialization;

namespace Portal.Compute.Images;

/// <summary>An image in the store: its identity, names, layers, run defaults and read-only disk.</summary>
public sealed record ImageRecord
{
    /// <summary>"sha256:&lt;64 hex&gt;": the sha256 of the image config JSON (docker semantics).</summary>
    public required string Id { get; init; }

    /// <summary>Normalized "name:tag" references, sorted.</summary>
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>Layer diff ids ("sha256:..." of each uncompressed layer tar), bottom first.</summary>
    public required IReadOnlyList<string> Layers { get; init; }

    public required ImageConfig Config { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Size of the read-only image disk in bytes.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>The read-only image disk (an erofs file).</summary>
    public required string DiskPath { get; init; }

    /// <summary>
    /// The teams that imported the image, sorted; empty for the administrators' images (imported by administrators, made
    /// by the agent, or from before teams), which every team sees and uses. Two teams that import the same image (the
    /// same id) both own it.
    /// </summary>
    public IReadOnlyList<string> Teams { get; init; } = [];

    /// <summary>"repository@sha256:..." of the manifests it was pulled by (docker's RepoDigests), sorted; empty for imported images.</summary>
    public IReadOnlyList<string> RepoDigests { get; init; } = [];

    /// <summary>Whether the image is the administrators' (owned by no team).</summary>
    [JsonIgnore]
    public bool IsAdministrators => Teams.Count == 0;

    /// <summary>Whether a caller acting for <paramref name="team"/> (null: an administrator) may see and use the image.</summary>
    public bool VisibleTo(string? team) => team is null || Teams.Count == 0 || Teams.Contains(team, StringComparer.Ordinal);

    /// <summary>Whether <paramref name="team"/> imported the image (and so may tag and remove it).</summary>
    public bool OwnedBy(string team) => Teams.Contains(team, StringComparer.Ordinal);

    /// <summary>The id's 64 hex digits (the image's directory name in the store).</summary>
    [JsonIgnore]
    public string HexId => Id["sha256:".Length..];

    /// <summary>The first 12 hex digits, as docker shows them.</summary>
    [JsonIgnore]
    public string ShortId => HexId[..12];
}
