using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Portal.Compute;
using Portal.Compute.Images;

namespace Portal.Tests.Shared.Compute;

/// <summary>Images as records, resolved as the store does (name, name:tag, id, id prefix); imports are not faked.</summary>
public sealed class FakeImageService : IImageService
{
    private readonly ConcurrentDictionary<string, ImageRecord> _images = new(StringComparer.Ordinal);

    public FakeImageService() => Add("busybox:latest", new ImageConfig { Cmd = ["sh"] });

    public string Root => "/var/lib/portal-fake/images";

    /// <summary>Adds an image with one tag; its id is derived from the tag, so tests can predict it.</summary>
    public ImageRecord Add(string tag, ImageConfig? config = null, params string[] teams)
    {
        var id = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(tag)));
        var image = new ImageRecord
        {
            Id = id,
            Tags = [tag],
            Layers = [id],
            Config = config ?? new ImageConfig(),
            CreatedAt = DateTimeOffset.UtcNow,
            SizeBytes = 4 << 20,
            DiskPath = $"{Root}/{id[7..]}/disk.erofs",
            Teams = teams,
        };
        _images[id] = image;
        return image;
    }

    public IReadOnlyList<ImageRecord> List() => [.. _images.Values.OrderByDescending(i => i.CreatedAt)];

    public ImageRecord Resolve(string reference) => Resolve(reference, null);

    /// <summary>Among the images the team may see (null: all), as the store does.</summary>
    public ImageRecord Resolve(string reference, string? team)
    {
        var images = _images.Values.Where(i => i.VisibleTo(team)).ToList();
        var tag = reference.Contains(':', StringComparison.Ordinal) && !reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference : reference + ":latest";
        var match = images.FirstOrDefault(i => i.Tags.Contains(tag))
            ?? images.FirstOrDefault(i => i.Id == reference || (reference.Length >= 4 && i.HexId.StartsWith(reference, StringComparison.Ordinal)));
        return match ?? throw new ComputeException(ComputeErrorCode.ImageNotFound, $"No such image: {reference}");
    }

    public Task<IReadOnlyList<ImageRecord>> ImportAsync(Stream archive, string? tag, string? team, IProgress<ImageImportProgress>? progress, CancellationToken ct) =>
        throw new NotSupportedException("Imports are not part of the fake: the integration tier loads real archives.");

    public Task<ImageRecord> PullAsync(string reference, string? team, Portal.Compute.Registry.RegistryCredential? credential,
        IProgress<Portal.Compute.Registry.PullProgress>? progress, CancellationToken ct) =>
        throw new NotSupportedException("Pulls are not part of the fake: the integration tier pulls from a real registry.");

    public Task LoginAsync(string registry, Portal.Compute.Registry.RegistryCredential credential, CancellationToken ct) =>
        throw new NotSupportedException("Logins are not part of the fake: the integration tier logs in to a real registry.");

    public Task TagAsync(string reference, string newTag, string? team, CancellationToken ct)
    {
        var image = Resolve(reference, team);
        foreach (var other in _images.Values.Where(i => i.Tags.Contains(newTag)))
        {
            _images[other.Id] = other with { Tags = [.. other.Tags.Where(t => t != newTag)] };
        }

        _images[image.Id] = _images[image.Id] with { Tags = [.. _images[image.Id].Tags, newTag] };
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string reference, bool force, string? team, CancellationToken ct)
    {
        var image = Resolve(reference, team);
        if (image.Tags.Count > 1 && image.Tags.Contains(reference))
        {
            _images[image.Id] = image with { Tags = [.. image.Tags.Where(t => t != reference)] };
        }
        else
        {
            _images.TryRemove(image.Id, out _);
        }

        return Task.CompletedTask;
    }
}
