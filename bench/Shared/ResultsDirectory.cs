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
}
