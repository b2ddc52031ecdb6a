namespace Portal.Client;

/// <summary>
/// Where an agent listens and how to authenticate: its local unix socket (the socket's ownership authorizes, as with
/// dockerd) or an HTTP address with an API key.
/// </summary>
public sealed record AgentEndpoint
{
    public const string DefaultSocket = "/run/portal/agent.sock";

    /// <summary>The unix socket path, or null for HTTP.</summary>
    public string? SocketPath { get; init; }

    /// <summary>The HTTP base address (ending in '/'); for a socket a placeholder host that is never resolved.</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>The API key (pk_...); null on the local socket.</summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// A team member an administrator key acts for: every REST call names them (headers <c>X-Portal-Team</c> and
    /// <c>X-Portal-User</c>) and so does the hub connection (query <c>portal_team</c> and <c>portal_user</c>), and the
    /// agent applies that member's role in the team. Null acts as the key itself.
    /// </summary>
    public TeamActor? ActingFor { get; init; }

    /// <summary>How users name this agent: unix:///path or the URL.</summary>
    public string Display => SocketPath is null ? BaseAddress.ToString().TrimEnd('/') : $"unix://{SocketPath}";

    public override string ToString() => Display;

    /// <summary>
    /// Parses unix:///run/portal/agent.sock, an absolute socket path, or http(s)://host:port. Throws
    /// <see cref="ArgumentException"/> that says what a valid address looks like. An HTTP address needs a key unless
    /// <paramref name="requireKey"/> is false; then the agent itself refuses the call (Unauthorized), as a command line
    /// reports it.
    /// </summary>
    public static AgentEndpoint Parse(string address, string? apiKey, bool requireKey = true)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new ArgumentException("The agent address is empty: use http://host:5081 (with an API key) or unix:///run/portal/agent.sock.", nameof(address));
        }

        address = address.Trim();
        apiKey = string.IsNullOrWhiteSpace(apiKey) ? null : apiKey.Trim();
        if (address.StartsWith('/'))
        {
            return Socket(address, apiKey);
        }

        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"'{address}' is not an agent address: use http://host:5081 (with an API key) or unix:///run/portal/agent.sock.", nameof(address));
        }

        return uri.Scheme switch
        {
            "unix" => Socket(uri.AbsolutePath, apiKey),
            "http" or "https" => new AgentEndpoint
            {
                BaseAddress = new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/"),
                ApiKey = apiKey ?? (requireKey ? throw new ArgumentException($"The agent at {address} needs an API key (pk_...): the agent printed an admin key at its first start, or create one with POST /api/keys.", nameof(apiKey)) : null),
            },
            _ => throw new ArgumentException($"'{address}' has scheme '{uri.Scheme}': use http:// or https:// for an agent's TCP listener, unix:// for the local socket.", nameof(address)),
        };
    }

    public static AgentEndpoint Socket(string path, string? apiKey = null) =>
        new() { SocketPath = path, BaseAddress = new Uri("http://agent/"), ApiKey = apiKey };
}

/// <summary>A team and one of its members, as the agent knows them (an administrator key acting for them).</summary>
public sealed record TeamActor(string Team, string User)
{
    public const string TeamHeader = "X-Portal-Team";
    public const string UserHeader = "X-Portal-User";
    public const string TeamQuery = "portal_team";
    public const string UserQuery = "portal_user";

    public override string ToString() => $"{User} in team {Team}";
}
