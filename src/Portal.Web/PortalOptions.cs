namespace Portal.Web;

/// <summary>The portal's settings: the "Portal" section of the root appsettings.json.</summary>
public sealed class PortalOptions
{
    /// <summary>Where the portal listens.</summary>
    public string Url { get; set; } = "http://127.0.0.1:5080";

    /// <summary>Where users and the host registry are: <c>Sqlite</c> (<see cref="Database"/>) or <c>PostgreSQL</c> (<c>ConnectionStrings:Portal</c>).</summary>
    public string DatabaseProvider { get; set; } = nameof(Data.DatabaseProvider.Sqlite);

    /// <summary>The SQLite database with users and the host registry; its directory also holds the first administrator's one-time password file.</summary>
    public string Database { get; set; } = "/var/lib/portal/portal.db";

    /// <summary>The ASP.NET Data Protection key ring (protects sign-in cookies and the agents' API keys at rest).</summary>
    public string KeysDirectory { get; set; } = "/var/lib/portal/portal-keys";

    /// <summary>The local agent's socket, registered as host "local" at first start when it exists and the portal may use it.</summary>
    public string LocalAgentSocket { get; set; } = "/run/portal/agent.sock";

    /// <summary>The first wait before reconnecting to an agent; it doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often an open circuit, and a sign-in cookie on its next request, checks that its user still exists, is enabled
    /// and has the same security stamp (password, roles): a disabled user is out within this time.
    /// </summary>
    public TimeSpan UserRevalidationInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the CPU and memory of running containers are sampled.</summary>
    public TimeSpan StatisticsInterval { get; set; } = TimeSpan.FromSeconds(5);
}
