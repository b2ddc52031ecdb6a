using System.Text;
using System.Text.Json;
using Portal.Compute.Registry;

namespace Portal.Docker;

/// <summary>
/// The X-Registry-Auth header docker clients send with a pull or push: base64url of {"username", "password",
/// "serveraddress"} (the CLI's stored login for the image's registry). Identity tokens (OAuth) are not used.
/// </summary>
internal static class DockerRegistryAuth
{
    /// <summary>The credential in <paramref name="header"/>; null when there is none or it is empty ("{}", as the CLI sends without a login).</summary>
    public static RegistryCredential? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        try
        {
            var text = header.Trim().Replace('-', '+').Replace('_', '/');
            text = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
            using var json = JsonDocument.Parse(Convert.FromBase64String(text));
            var root = json.RootElement;
            var user = root.TryGetProperty("username", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            var password = root.TryGetProperty("password", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            return string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password) ? null : new RegistryCredential(user, password);
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            throw DockerApiException.BadParameter("the X-Registry-Auth header is not base64url-encoded JSON with a username and password; log in again (docker login)");
        }
    }
}
