using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Portal.Contracts;

namespace Portal.Compute.Audit;

/// <summary>Who is on the other end of a unix socket connection: its uid from SO_PEERCRED, and the account's name.</summary>
public static class SocketPeer
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string?> Names = new();

    /// <summary>The peer's uid (struct ucred's second field); null when the connection is no unix socket.</summary>
    public static int? UidOf(HttpContext http)
    {
        if (http.Features.Get<IConnectionSocketFeature>()?.Socket is not { AddressFamily: AddressFamily.Unix } socket)
        {
            return null;
        }

        Span<byte> ucred = stackalloc byte[12]; // pid, uid, gid
        try
        {
            return socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) == 12 ? BinaryPrimitives.ReadInt32LittleEndian(ucred[4..]) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>The actor for a peer on one of the agent's sockets: "root (uid 0) via the docker socket".</summary>
    public static AuditActor Actor(int? uid, AuditActorKind kind, string via) => new()
    {
        Kind = kind,
        Uid = uid,
        Name = uid is { } u ? $"{AccountName(u) ?? "uid " + u} (uid {u}) via {via}" : $"unknown peer via {via}",
    };

    /// <summary>The account name of <paramref name="uid"/> from /etc/passwd, when it has one (read once per uid).</summary>
    public static string? AccountName(int uid) => Names.GetOrAdd(uid, ReadAccountName);

    private static string? ReadAccountName(int uid)
    {
        try
        {
            var text = uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return File.ReadLines("/etc/passwd").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[2] == text)?[0];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
