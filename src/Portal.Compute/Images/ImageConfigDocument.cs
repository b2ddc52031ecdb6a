using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Portal.Compute.Images;

/// <summary>The parts of an OCI/docker image config JSON the store uses.</summary>
internal sealed record ImageConfigDocument
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public required ImageConfig Config { get; init; }

    public DateTimeOffset? Created { get; init; }

    public required IReadOnlyList<string> DiffIds { get; init; }

    /// <summary>The docker/OCI architecture name of this host ("amd64", "arm64", ...).</summary>
    public static string HostArchitecture => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.X86 => "386",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a config; <paramref name="what"/> names it in errors.</summary>
    public static ImageConfigDocument Parse(byte[] json, string what)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("the top level is not an object");
            }

            var config = new ImageConfig();
            if (root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object)
            {
                config = new ImageConfig
                {
                    Entrypoint = Strings(c, "Entrypoint"),
                    Cmd = Strings(c, "Cmd"),
                    Env = Strings(c, "Env"),
                    WorkingDir = Text(c, "WorkingDir"),
                    User = Text(c, "User"),
                };
            }

            DateTimeOffset? created = null;
            if (Text(root, "created") is { } createdText
                && DateTimeOffset.TryParse(createdText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                created = parsed;
            }

            IReadOnlyList<string> diffIds = [];
            if (root.TryGetProperty("rootfs", out var rootfs) && rootfs.ValueKind == JsonValueKind.Object)
            {
                diffIds = Strings(rootfs, "diff_ids");
            }

            return new ImageConfigDocument { Config = config, Created = created, DiffIds = diffIds };
        }
        catch (JsonException ex)
        {
            throw new ComputeException(
                ComputeErrorCode.ImageRejected,
                $"{what} is not a valid image config ({ex.Message}). Re-export the image.",
                ex);
        }
    }

    /// <summary>
    /// The canonical config of a single-layer rootfs image: fixed key order, no whitespace, no timestamps, so
    /// the same layer always gives the same image id.
    /// </summary>
    public static byte[] Synthesize(string diffId, bool hasShell)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("architecture", HostArchitecture);
            writer.WriteStartObject("config");
            if (hasShell)
            {
                writer.WriteStartArray("Cmd");
                writer.WriteStringValue("sh");
                writer.WriteEndArray();
            }

            writer.WriteStartArray("Env");
            writer.WriteStringValue(DefaultPath);
            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteString("os", "linux");
            writer.WriteStartObject("rootfs");
            writer.WriteStartArray("diff_ids");
            writer.WriteStringValue(diffId);
            writer.WriteEndArray();
            writer.WriteString("type", "layers");
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : null;

    private static IReadOnlyList<string> Strings(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return [.. value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)];
    }
}
