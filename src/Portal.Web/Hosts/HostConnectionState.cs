namespace Portal.Web.Hosts;

public enum HostConnectionState
{
    /// <summary>The first attempt is under way.</summary>
    Connecting,

    /// <summary>Connected and subscribed: the portal's view of the host is live.</summary>
    Connected,

    /// <summary>The connection failed or dropped; the next attempt waits out a capped backoff.</summary>
    Reconnecting,

    /// <summary>The host was removed or the portal is stopping.</summary>
    Stopped,
}
