using System.Text;

namespace Portal.Web.Model;

/// <summary>Splits a command typed in a form into arguments, as a POSIX shell would for quotes and backslashes.</summary>
public static class CommandLine
{
    /// <summary>Throws <see cref="FormatException"/> with what is wrong (an unclosed quote).</summary>
    public static IReadOnlyList<string> Split(string? text)
    {
        var args = new List<string>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return args;
        }

        var current = new StringBuilder();
        var inArg = false;
        char? quote = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is { } q)
            {
                if (c == q)
                {
                    quote = null;
                }
                else if (c == '\\' && q == '"' && i + 1 < text.Length && text[i + 1] is '"' or '\\')
                {
                    current.Append(text[++i]);
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inArg = true;
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                current.Append(text[++i]);
                inArg = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inArg)
                {
                    args.Add(current.ToString());
                    current.Clear();
                    inArg = false;
                }
            }
            else
            {
                current.Append(c);
                inArg = true;
            }
        }

        if (quote is not null)
        {
            throw new FormatException($"The command has an unclosed {quote} quote: close it, or escape it with a backslash.");
        }

        if (inArg)
        {
            args.Add(current.ToString());
        }

        return args;
    }
}
