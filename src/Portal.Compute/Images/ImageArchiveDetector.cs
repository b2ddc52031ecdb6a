using System.Formats.Tar;
using System.Text.RegularExpressions;

namespace Portal.Compute.Images;

/// <summary>What an image archive holds, decided from its entry names.</summary>
internal enum ImageArchiveKind
{
    RootfsTar,
    OciLayout,
    DockerSave,
}

/// <summary>
/// Tells a docker save archive, an OCI layout tar and a root filesystem tar apart by their content, never by the
/// file name. Reads entry headers only and stops at the first name a layout never holds.
/// </summary>
internal static partial class ImageArchiveDetector
{
    /// <param name="budget">Bounds what detection reads (metadata records, decompressed bytes); its own, since extraction reads the archive again.</param>
    public static async Task<ImageArchiveKind> DetectAsync(string file, ImportBudget budget, CancellationToken ct)
    {
        var (tar, _) = await LayerCompression.OpenTarAsync(file, "The archive", ct).ConfigureAwait(false);
        await using (tar.ConfigureAwait(false))
        {
            await using var reader = new TarReader(new BoundedTarStream(tar, budget, "the archive"), leaveOpen: false);
            var names = new HashSet<string>(StringComparer.Ordinal);
            try
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    var name = ArchivePath.Normalize(entry.Name) is { } parts ? ArchivePath.Join(parts) : entry.Name;
                    if (name.Length == 0 || entry.EntryType == TarEntryType.GlobalExtendedAttributes)
                    {
                        continue;
                    }

                    // Anything a layout never holds means a root filesystem: stop reading early.
                    if (!LayoutEntryPattern().IsMatch(name))
                    {
                        return ImageArchiveKind.RootfsTar;
                    }

                    names.Add(name);
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException or ArgumentException)
            {
                throw new ComputeException(
                    ComputeErrorCode.ImageRejected,
                    $"The archive is not a valid tar archive ({ex.Message}). Give a .tar or .tar.gz made by docker save, an OCI tool or tar.",
                    ex);
            }

            if (names.Contains("manifest.json"))
            {
                return ImageArchiveKind.DockerSave;
            }

            return names.Contains("oci-layout") && names.Contains("index.json") ? ImageArchiveKind.OciLayout : ImageArchiveKind.RootfsTar;
        }
    }

    // manifest.json, repositories, oci-layout, index.json, <hex>.json, <id>/{layer.tar,json,VERSION}, blobs/sha256/<hex>
    [GeneratedRegex("^(?:manifest\\.json|repositories|oci-layout|index\\.json|[0-9a-f]{64}\\.json|[0-9a-f]{64}(?:/(?:layer\\.tar|json|VERSION))?|blobs(?:/[a-z0-9]+(?:/[0-9a-f]{64})?)?)$")]
    private static partial Regex LayoutEntryPattern();
}
