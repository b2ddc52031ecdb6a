using System.Runtime.InteropServices;
using System.Text;

namespace Portal.Shared.Native;

/// <summary>NUL-terminated UTF-8 strings and string arrays for a native call; all freed together on dispose.</summary>
internal sealed unsafe class CStringArena : IDisposable
{
    private readonly List<nint> _allocations = [];

    public byte* String(string s)
    {
        var byteCount = Encoding.UTF8.GetByteCount(s);
        var p = (byte*)Allocate(byteCount + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, byteCount));
        p[byteCount] = 0;
        return p;
    }

    /// <summary>An argv/envp-style array: the strings, then a null pointer.</summary>
    public byte** Array(IReadOnlyList<string> items)
    {
        var slots = (byte**)Allocate((items.Count + 1) * sizeof(nint));
        for (var i = 0; i < items.Count; i++)
        {
            slots[i] = String(items[i]);
        }

        slots[items.Count] = null;
        return slots;
    }

    public void Dispose()
    {
        foreach (var p in _allocations)
        {
            Marshal.FreeHGlobal(p);
        }

        _allocations.Clear();
    }

    private nint Allocate(int bytes)
    {
        var p = Marshal.AllocHGlobal(bytes);
        _allocations.Add(p);
        return p;
    }
}
