using System.Buffers.Binary;
using System.Text.Json.Serialization;

namespace Portal.Contracts.Guest;

/// <summary>
/// The guest channel between the host agent and the guest agent (PID 1 of each VM), over a virtio-serial port
/// backed by a unix socket on the host (or vsock). Versioned and length-prefixed; stdio is multiplexed.
///
/// Frame: u32 big-endian length of what follows | u8 kind | u32 big-endian channel | payload.
///  - Request  (host -> guest): channel = request id, payload = JSON <see cref="GuestRequest"/>.
///  - Response (guest -> host): channel = the request's id, payload = JSON <see cref="GuestResponse"/>.
///  - Event    (guest -> host): channel 0, payload = JSON <see cref="GuestEvent"/>.
///  - Stdin    (host -> guest): channel = process id, payload = bytes; an empty payload closes the process's stdin.
///  - Stdout / Stderr (guest -> host): channel = process id, payload = bytes (with a TTY everything is Stdout); from
///    version 3 the payload starts with a u64 big-endian sequence number, per process and stream, from 1.
///  - Ack (host -> guest, version 3): channel = process id, payload = u8 stream kind | u64 BE sequence: the host has
///    delivered that stream's output up to this sequence (written it to the container log, or handed it to a reader).
/// The container's first process is process id 1; exec'd processes get ids from 2 on.
///
/// Output flow control (version 3): the guest keeps every output frame until it is acknowledged, and has at most
/// <see cref="OutputWindow"/> bytes of a stream queued or sent but unacknowledged: past that it stops reading the
/// process's output (the process blocks on write). Unacknowledged output is sent again on every new connection, so
/// nothing is lost across a host agent restart; the host drops what it already delivered by its sequence number.
///
/// Requests sent again (version 4): when a request waits for its response and nothing has come from the guest for a
/// while, the host says Hello again on the same connection (the guest may have ended its session on a previous host's
/// late hang-up and be keeping everything for the next Hello), then sends every waiting request again with its id. The
/// guest remembers the requests with effects it ran (<see cref="GuestRequest.ReadOnly"/> ones just run again) and
/// answers one that comes again with its first response, or when it finishes: it never runs twice. A host whose
/// connection dropped sends a waiting request on the next connection with the same id, for the same reason.
/// A guest that sends more than the window, output before its process was announced, or anything malformed breaks the
/// protocol: the host stops the VM with that reason.
/// </summary>
public static class GuestProtocol
{
    /// <summary>
    /// The newest version this side speaks. 2 added networking (StartContainerRequest.Network/Hosts, UpdateHostsRequest);
    /// 3 added sequenced, acknowledged output with a window (<see cref="FrameKind.Ack"/>) and the guest's boot id;
    /// 4 made requests safe to send again (the guest answers a request id it ran with its first response).
    /// The guest answers a Hello with the highest version both speak, so a host of version 1 keeps working with a newer
    /// guest, and a newer host learns that an older guest has no networking.
    /// </summary>
    public const int Version = 4;

    /// <summary>The oldest version a guest agent still serves.</summary>
    public const int MinimumVersion = 1;

    /// <summary>The first version whose guests configure a network interface and /etc/hosts.</summary>
    public const int NetworkingVersion = 2;

    /// <summary>The first version whose output frames carry sequence numbers and are acknowledged.</summary>
    public const int AcknowledgedOutputVersion = 3;

    /// <summary>The first version whose guests answer a request sent again (same id) without running it twice.</summary>
    public const int RepeatableRequestsVersion = 4;

    /// <summary>The most output bytes of one process's stream that the guest has queued or sent without an acknowledgement.</summary>
    public const int OutputWindow = 256 * 1024;

    /// <summary>Length of the sequence number at the start of a version-3 output payload.</summary>
    public const int SequenceLength = 8;

    /// <summary>Length of an Ack payload: the stream's frame kind and the sequence number.</summary>
    public const int AckLength = 1 + SequenceLength;

    /// <summary>The virtio-serial port name the guest agent looks for under /sys/class/virtio-ports/*/name.</summary>
    public const string PortName = "org.portal.guest.0";

    public const int HeaderLength = 9;

    public const int MaxPayload = 1 << 20;

    public static void WriteHeader(Span<byte> header, FrameKind kind, uint channel, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)(payloadLength + 5));
        header[4] = (byte)kind;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], channel);
    }

    /// <summary>Reads a header; returns the payload length, or throws on a malformed frame.</summary>
    public static int ReadHeader(ReadOnlySpan<byte> header, out FrameKind kind, out uint channel)
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        kind = (FrameKind)header[4];
        channel = BinaryPrimitives.ReadUInt32BigEndian(header[5..]);
        if (length < 5 || length - 5 > MaxPayload || !Enum.IsDefined(kind))
        {
            throw new InvalidDataException($"Malformed guest frame (length {length}, kind {(byte)kind}).");
        }

        return (int)(length - 5);
    }

    /// <summary>An Ack payload: <paramref name="stream"/> (Stdout or Stderr) delivered up to <paramref name="sequence"/>.</summary>
    public static byte[] Ack(FrameKind stream, ulong sequence)
    {
        var payload = new byte[AckLength];
        payload[0] = (byte)stream;
        BinaryPrimitives.WriteUInt64BigEndian(payload.AsSpan(1), sequence);
        return payload;
    }

    /// <summary>Reads an Ack payload; false when it is not one (wrong length or not an output stream).</summary>
    public static bool TryReadAck(ReadOnlySpan<byte> payload, out FrameKind stream, out ulong sequence)
    {
        stream = payload.Length == AckLength ? (FrameKind)payload[0] : default;
        sequence = payload.Length == AckLength ? BinaryPrimitives.ReadUInt64BigEndian(payload[1..]) : 0;
        return payload.Length == AckLength && stream is FrameKind.Stdout or FrameKind.Stderr && sequence > 0;
    }
}

public enum FrameKind : byte
{
    Request = 1,
    Response = 2,
    Event = 3,
    Stdin = 0x10,
    Stdout = 0x11,
    Stderr = 0x12,
    Ack = 0x20,
}

/// <summary>A process to start in the guest: the container's first process, or an exec'd one.</summary>
public sealed record GuestProcessSpec
{
    public required IReadOnlyList<string> Args { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public required string Cwd { get; init; }
    /// <summary>"name", "uid", "name:group" or "uid:gid", resolved against the container's own /etc/passwd and /etc/group.</summary>
    public string? User { get; init; }
    public bool Tty { get; init; }
    public bool Stdin { get; init; }
    public int Columns { get; init; } = 80;
    public int Rows { get; init; } = 24;
}

[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(HelloRequest), "hello")]
[JsonDerivedType(typeof(StartContainerRequest), "start")]
[JsonDerivedType(typeof(ExecRequest), "exec")]
[JsonDerivedType(typeof(SignalRequest), "signal")]
[JsonDerivedType(typeof(ResizeRequest), "resize")]
[JsonDerivedType(typeof(ListProcessesRequest), "ps")]
[JsonDerivedType(typeof(StatisticsRequest), "stats")]
[JsonDerivedType(typeof(ShutdownRequest), "shutdown")]
[JsonDerivedType(typeof(UpdateHostsRequest), "hosts")]
public abstract record GuestRequest
{
    /// <summary>Running it again changes nothing (it only reads): a copy the host sends again simply runs again.</summary>
    [JsonIgnore]
    public virtual bool ReadOnly => false;
}

/// <summary>First message on every connection (also after the host agent restarts); the guest then replays what it buffered.</summary>
public sealed record HelloRequest(int Version) : GuestRequest;

/// <summary>Mount the image disk and scratch disk, overlay them, set the hostname, and start the container's first process (id 1) in that root.</summary>
public sealed record StartContainerRequest : GuestRequest
{
    public required string Hostname { get; init; }
    /// <summary>Guest device of the read-only image disk (erofs), for example /dev/vda.</summary>
    public required string ImageDevice { get; init; }
    /// <summary>Guest device of the writable scratch disk (ext4 with upper/ and work/), for example /dev/vdb.</summary>
    public required string ScratchDevice { get; init; }
    public required GuestProcessSpec Process { get; init; }
    /// <summary>The container's interface on its virtual switch (protocol 2); null: loopback only.</summary>
    public GuestNetwork? Network { get; init; }
    /// <summary>The container's /etc/hosts (protocol 2): its switch's members by name; null: localhost and the hostname.</summary>
    public string? Hosts { get; init; }
}

/// <summary>The guest's virtio-net interface: found by its MAC, given the address, brought up, with a default route when there is a gateway.</summary>
public sealed record GuestNetwork
{
    public required string MacAddress { get; init; }
    public required string Address { get; init; }
    public required int PrefixLength { get; init; }
    public string? Gateway { get; init; }
}

/// <summary>Rewrites the container's /etc/hosts in place (a member of its switch came or went).</summary>
public sealed record UpdateHostsRequest(string Hosts) : GuestRequest;

public sealed record ExecRequest(GuestProcessSpec Process) : GuestRequest;

public sealed record SignalRequest(uint ProcessId, int Signal) : GuestRequest;

public sealed record ResizeRequest(uint ProcessId, int Columns, int Rows) : GuestRequest;

public sealed record ListProcessesRequest : GuestRequest
{
    public override bool ReadOnly => true;
}

public sealed record StatisticsRequest : GuestRequest
{
    public override bool ReadOnly => true;
}

/// <summary>Stop every process, unmount, sync and power the VM off.</summary>
public sealed record ShutdownRequest : GuestRequest;

/// <summary>Every response: Error is set when the request failed (with a message for the user).</summary>
public sealed record GuestResponse
{
    public string? Error { get; init; }
    public int? Version { get; init; }
    public string? Kernel { get; init; }
    /// <summary>For hello (version 3): the guest kernel's boot id; output sequence numbers start again with every boot.</summary>
    public string? Boot { get; init; }
    /// <summary>For start/exec: the process id on the channel and its PID in the guest.</summary>
    public uint? ProcessId { get; init; }
    public int? Pid { get; init; }
    public IReadOnlyList<GuestProcessInfo>? Processes { get; init; }
    public GuestStatistics? Statistics { get; init; }
}

public sealed record GuestProcessInfo
{
    public required int Pid { get; init; }
    public required int ParentPid { get; init; }
    public required string User { get; init; }
    public required string Name { get; init; }
    public required string CommandLine { get; init; }
    public required double CpuSeconds { get; init; }
    public required long MemoryBytes { get; init; }
}

public sealed record GuestStatistics
{
    public required double CpuSeconds { get; init; }
    public required long MemoryBytes { get; init; }
    public required long MemoryTotalBytes { get; init; }
    public required long Pids { get; init; }
}

[JsonPolymorphic(TypeDiscriminatorPropertyName = "event")]
[JsonDerivedType(typeof(ProcessExitedEvent), "exited")]
public abstract record GuestEvent;

/// <summary>A process ended. For process 1 this is the container's exit; the guest keeps running until told to shut down.</summary>
public sealed record ProcessExitedEvent(uint ProcessId, int ExitCode) : GuestEvent;

/// <summary>Source-generated JSON for the protocol (the guest agent is NativeAOT).</summary>
[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(GuestRequest))]
[JsonSerializable(typeof(GuestResponse))]
[JsonSerializable(typeof(GuestEvent))]
public sealed partial class GuestJsonContext : JsonSerializerContext;
