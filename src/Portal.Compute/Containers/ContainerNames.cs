using System.Text.RegularExpressions;

namespace Portal.Compute.Containers;

/// <summary>Container names: validated as docker does, generated docker-style when none is given.</summary>
public static partial class ContainerNames
{
    private static readonly string[] Adjectives = ["brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty", "proud", "quiet", "sharp", "tender", "vivid", "witty"];
    private static readonly string[] Nouns = ["babbage", "curie", "dijkstra", "euler", "gauss", "hopper", "knuth", "lamport", "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wirth", "zuse"];

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")]
    private static partial Regex Valid();

    /// <summary>The name normalized (docker clients send "/name"), or an InvalidArgument error saying what is allowed.</summary>
    public static string Validate(string name)
    {
        var trimmed = name.TrimStart('/');
        if (!Valid().IsMatch(trimmed))
        {
            throw new ComputeException(ComputeErrorCode.InvalidArgument, $"Invalid container name '{name}': use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit.");
        }

        return trimmed;
    }

    public static string Generate(Func<string, bool> taken)
    {
        for (var i = 0; ; i++)
        {
            var name = $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}_{Nouns[Random.Shared.Next(Nouns.Length)]}";
            name = i < 20 ? name : $"{name}{Random.Shared.Next(1000)}";
            if (!taken(name))
            {
                return name;
            }
        }
    }
}
