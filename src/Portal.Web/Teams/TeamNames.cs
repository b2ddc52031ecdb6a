using System.Text.RegularExpressions;

namespace Portal.Web.Teams;

/// <summary>The agents' rule for team names (TeamStore.ValidateName), checked before a team is stored or pushed.</summary>
public static partial class TeamNames
{
    /// <summary>The name, or an <see cref="ArgumentException"/> that says what a valid one looks like.</summary>
    public static string Validate(string? name)
    {
        var trimmed = name?.Trim() ?? "";
        if (!Pattern().IsMatch(trimmed))
        {
            throw new ArgumentException(
                $"'{trimmed}' is not a team name: use 1 to 63 characters, lower-case letters, digits, '-', '_' or '.', starting with a letter or digit (for example blue or web-team).",
                nameof(name));
        }

        return trimmed;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex Pattern();
}
