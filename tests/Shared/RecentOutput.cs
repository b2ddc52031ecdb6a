using System.Collections.Concurrent;

namespace Portal.Tests.Shared;

/// <summary>The last lines a child process (agent, portal) printed, for failure messages.</summary>
public sealed class RecentOutput(int capacity = 200)
{
    private readonly ConcurrentQueue<string> _lines = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        while (_lines.Count > capacity)
        {
            _lines.TryDequeue(out _);
        }
    }

    public override string ToString() => string.Join('\n', _lines);
}
