using System.Globalization;

namespace Portal.Docker;

/// <summary>Query and route values read the way dockerd reads them, with 400s that say which parameter was wrong.</summary>
internal static class DockerQuery
{
    /// <summary>dockerd's BoolValue: anything but "", "0", "no", "false" and "none" is true.</summary>
    public static bool Bool(HttpContext http, string name, bool fallback = false)
    {
        if (!http.Request.Query.TryGetValue(name, out var values))
        {
            return fallback;
        }

        var value = values.ToString().Trim().ToLowerInvariant();
        return value is not ("" or "0" or "no" or "false" or "none");
    }

    public static int? Int(HttpContext http, string name)
    {
        var text = http.Request.Query[name].ToString();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw DockerApiException.BadParameter($"invalid value for {name}: \"{text}\" is not a whole number");
    }

    public static string? String(HttpContext http, string name)
    {
        var text = http.Request.Query[name].ToString();
        return string.IsNullOrEmpty(text) ? null : text;
    }

    public static string Route(HttpContext http, string name) =>
        http.Request.RouteValues[name]?.ToString() ?? throw DockerApiException.BadParameter($"missing {name}");
}
