using System.Text.Json.Serialization;

namespace Portal.Compute.Images;

/// <summary>Serialization of image.json (the per-image metadata file).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ImageRecord))]
internal sealed partial class ImageStoreJsonContext : JsonSerializerContext
{
}
