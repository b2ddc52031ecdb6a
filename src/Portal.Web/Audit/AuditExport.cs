using System.Globalization;
using System.Text;
using System.Text.Json;
using Portal.Client;

namespace Portal.Web.Audit;

/// <summary>
/// The merged trail as a download: CSV (RFC 4180: comma separated, CRLF lines, a field with a comma, quote or line break
/// in double quotes with its quotes doubled) or JSON. CSV cells that a spreadsheet would run as a formula (starting with
/// = + - @, or a tab or carriage return) get a leading apostrophe, so an actor or container name cannot inject one.
/// </summary>
public static class AuditExport
{
    public static readonly string[] Columns =
    [
        "time", "host", "sequence", "actor", "actor_kind", "key_id", "user", "team", "entry_point", "source", "action",
        "target_host", "target_type", "target_id", "target_name", "requested_isolation", "effective_isolation",
        "decision", "rule", "reason", "result", "error",
    ];

    public static string Csv(IEnumerable<AuditRow> rows)
    {
        var csv = new StringBuilder();
        AppendLine(csv, Columns);
        foreach (var row in rows)
        {
            var e = row.Entry;
            AppendLine(csv,
            [
                e.Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture), row.Host,
                e.Sequence.ToString(CultureInfo.InvariantCulture), e.Actor.Name, e.Actor.Kind.ToString(), e.Actor.KeyId, e.User, e.Team,
                e.EntryPoint.ToString(), e.Source, e.Action, e.Target?.Host, e.Target?.Type, e.Target?.Id, e.Target?.Name,
                e.RequestedIsolation?.ToString(), e.EffectiveIsolation?.ToString(), e.Decision.ToString(), e.Rule, e.Reason,
                e.Result.ToString(), e.Error,
            ]);
        }

        return csv.ToString();
    }

    /// <summary>One CSV field: the formula guard first, then RFC 4180 quoting when needed.</summary>
    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>The rows as a JSON object: the entries (each with the host it was recorded on), the hosts not read, and whether more matched.</summary>
    public static string Json(AuditListing listing) => JsonSerializer.Serialize(new
    {
        missingHosts = listing.Missing,
        truncated = listing.Truncated,
        entries = listing.Rows.Select(r => new { host = r.Host, entry = r.Entry }),
    }, AgentTransport.Json);

    /// <summary>"audit-20261203T142501Z.csv".</summary>
    public static string FileName(DateTimeOffset now, string extension) =>
        $"audit-{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}.{extension}";

    private static void AppendLine(StringBuilder csv, IReadOnlyList<string?> fields)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (i > 0)
            {
                csv.Append(',');
            }

            csv.Append(Field(fields[i]));
        }

        csv.Append("\r\n");
    }
}
