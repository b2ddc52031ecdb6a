namespace Portal.Bench.Shared;

/// <summary>bench/results of the repository the bench was built from, wherever it is run from.</summary>
public static class ResultsDirectory
{
    public static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Portal.sln")))
                {
                    return Path.Combine(dir.FullName, "bench", "results");
                }
            }
        }

        throw new DirectoryNotFoundException("Cannot find the repository (Portal.sln) above the current or the bench's directory; run the bench from the repository (bench/run, bench/run-hub).");
    }

    /// <summary>Writes a run's results: <paramref name="name"/>.json (everything, NaN where nothing was measured) and .md (the summary).</summary>
    public static async Task<string> WriteAsync(string name, object report, string markdown)
    {
        var results = Find();
        Directory.CreateDirectory(results);
        var json = System.Text.Json.JsonSerializer.Serialize(report, report.GetType(), new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
            Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        });
        await File.WriteAllTextAsync(Path.Combine(results, name + ".json"), json + "\n");
        await File.WriteAllTextAsync(Path.Combine(results, name + ".md"), markdown);
        return results;
    }
}
