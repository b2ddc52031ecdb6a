using Portal.Contracts.Guest;

namespace Portal.Guest;

/// <summary>
/// The requests with effects this guest ran, by id (protocol 4), so that one the host sends again is answered again and
/// never run twice. The host sends a request again when its answer is overdue (after a Hello that restarts a session
/// this guest ended on a stale hang-up) or when its connection dropped before the answer came.
/// A request is known by its id and a fingerprint of its bytes: a new host that happens to use an id again for another
/// request gets it run. The newest <paramref name="capacity"/> requests are kept; a response is small (an exec's names
/// its process), read-only requests are not kept at all.
/// </summary>
internal sealed class RequestLog(int capacity = RequestLog.DefaultCapacity)
{
    public const int DefaultCapacity = 256;

    private readonly Lock _gate = new();
    private readonly Dictionary<uint, Entry> _entries = [];
    private readonly Queue<uint> _order = new();

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>
    /// True when the request is new: it is recorded as running. False when it ran or runs already:
    /// <paramref name="earlier"/> is its response, or null while it still runs (it answers when it finishes).
    /// </summary>
    public bool TryBegin(uint id, ReadOnlySpan<byte> payload, out GuestResponse? earlier)
    {
        var fingerprint = Fingerprint(payload);
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry) && entry.Fingerprint == fingerprint)
            {
                earlier = entry.Response;
                return false;
            }

            earlier = null;
            if (entry is null)
            {
                _order.Enqueue(id);
            }

            _entries[id] = new Entry(fingerprint);
            while (_order.Count > capacity)
            {
                _entries.Remove(_order.Dequeue());
            }

            return true;
        }
    }

    /// <summary>The request finished: a copy that comes later is answered with this response.</summary>
    public void Complete(uint id, GuestResponse response)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry))
            {
                entry.Response = response;
            }
        }
    }

    /// <summary>FNV-1a, 64 bits, with the length: tells two requests apart, not an adversary's (the host is trusted).</summary>
    private static ulong Fingerprint(ReadOnlySpan<byte> payload)
    {
        var hash = 14695981039346656037UL ^ (ulong)payload.Length;
        foreach (var b in payload)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    private sealed class Entry(ulong fingerprint)
    {
        public ulong Fingerprint { get; } = fingerprint;

        public GuestResponse? Response { get; set; }
    }
}
