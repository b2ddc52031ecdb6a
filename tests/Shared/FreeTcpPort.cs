using System.Net;
using System.Net.Sockets;

namespace Portal.Tests.Shared;

public static class FreeTcpPort
{
    /// <summary>A loopback port nobody listens on now (the OS picks it).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
