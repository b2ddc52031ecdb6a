namespace Portal.Compute.Networking;

/// <summary>
/// The connection caps of published-port relays: each relayed connection holds two of the agent's file descriptors
/// (the client's and the container's), so outside clients could otherwise exhaust them. One instance is shared by
/// every relay of the agent (the total); each relay also counts its own (per port).
/// </summary>
internal sealed class RelayLimits(int perPort, int total)
{
    private int _active;
    private long _refused;

    public int PerPort { get; } = perPort;

    public int Total { get; } = total;

    /// <summary>Relayed connections open now, over every published port.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>Connections refused at a cap since the agent started.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _active) <= Total)
        {
            return true;
        }

        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _active);

    public long CountRefused() => Interlocked.Increment(ref _refused);
}
