using System.Text.Json;
using System.Text.Json.Serialization;

namespace Portal.Docker;

/// <summary>JSON as dockerd speaks it: PascalCase names, case-insensitive reading (Go's encoding/json), bounded nesting.</summary>
internal static class DockerJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNameCaseInsensitive = true,
        PropertyNamingPolicy = null,
        MaxDepth = 64,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>The stats endpoint's snake_case shape (cpu_stats, memory_stats, ...).</summary>
    public static readonly JsonSerializerOptions Stats = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static async Task<T> ReadBodyAsync<T>(HttpContext http)
        where T : class
    {
        var body = await UpgradeBodyRewriter.ReadBodyAsync(http).ConfigureAwait(false);
        if (body.Length == 0)
        {
            throw DockerApiException.BadParameter("The request body is empty: send a JSON object.");
        }

        return JsonSerializer.Deserialize<T>(body, Options)
            ?? throw DockerApiException.BadParameter("The request body is null: send a JSON object.");
    }

    /// <summary>Reads an optional body: none (or an empty one) gives null.</summary>
    public static async Task<T?> ReadOptionalBodyAsync<T>(HttpContext http)
        where T : class
    {
        var body = await UpgradeBodyRewriter.ReadBodyAsync(http).ConfigureAwait(false);
        return body.Length == 0 ? null : JsonSerializer.Deserialize<T>(body, Options);
    }

    public static Task WriteAsync<T>(HttpContext http, T value, int status = StatusCodes.Status200OK)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, Options);
        http.Response.ContentLength = bytes.Length + 1;
        return WriteAsync(http, bytes);
    }

    private static async Task WriteAsync(HttpContext http, byte[] bytes)
    {
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
        await http.Response.Body.WriteAsync("\n"u8.ToArray(), http.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>Docker's strslice: a command given as one string or as an array of strings; null entries are refused.</summary>
internal sealed class DockerStringListConverter : JsonConverter<IReadOnlyList<string>>
{
    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return [reader.GetString()!];
            case JsonTokenType.StartArray:
                var list = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new JsonException("could not be converted: a command must be a string or an array of strings");
                    }

                    list.Add(reader.GetString()!);
                }

                return list;
            default:
                throw new JsonException("could not be converted: a command must be a string or an array of strings");
        }
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.ToArray(), options);
}
