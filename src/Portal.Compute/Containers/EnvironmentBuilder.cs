namespace Portal.Compute.Containers;

/// <summary>KEY=VALUE lists merged the way docker does: later entries replace earlier ones with the same key.</summary>
public static class EnvironmentBuilder
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static IReadOnlyList<string> Merge(params IEnumerable<string>[] lists)
    {
        var order = new List<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in lists.SelectMany(l => l))
        {
            var key = Key(entry);
            if (!values.ContainsKey(key))
            {
                order.Add(key);
            }

            values[key] = entry;
        }

        return order.Select(k => values[k]).ToList();
    }

    public static string Key(string entry)
    {
        var eq = entry.IndexOf('=');
        return eq < 0 ? entry : entry[..eq];
    }
}
