namespace Portal.Compute.Registry;

/// <summary>
/// A registry's WWW-Authenticate challenge (RFC 7235): the scheme ("Bearer" or "Basic") and its parameters
/// (realm, service, scope for a token server). Registries send one challenge; the first one understood is used.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses one header value; null when it has no scheme. Quoted values may hold commas and escaped quotes.</summary>
    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        var text = header.Trim();
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space < 0 ? text : text[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = space < 0 ? text.Length : space + 1;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ' ' || text[i] == ','))
            {
                i++;
            }

            var equals = text.IndexOf('=', i);
            if (equals < 0)
            {
                break;
            }

            var key = text[i..equals].Trim();
            i = equals + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var builder = new System.Text.StringBuilder();
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    builder.Append(text[i]);
                    i++;
                }

                i++; // the closing quote
                value = builder.ToString();
            }
            else
            {
                var comma = text.IndexOf(',', i);
                value = (comma < 0 ? text[i..] : text[i..comma]).Trim();
                i = comma < 0 ? text.Length : comma;
            }

            if (key.Length > 0)
            {
                parameters[key] = value;
            }
        }

        return scheme.Length == 0 ? null : new AuthChallenge(scheme, parameters);
    }
}
