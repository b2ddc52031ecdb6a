using System.Text;
using Microsoft.Extensions.Options;
using Portal.Contracts;

namespace Portal.Web.Audit;

/// <summary>
/// GET /audit/export?format=csv|json with the Audit page's filters (user, team, host, action, decision, since, until):
/// the matching entries of every host and the portal, newest first, as a download. Hosts not read are named in the JSON
/// and in the X-Audit-Missing-Hosts header.
/// </summary>
public static class AuditEndpoints
{
    public const string ExportPath = "/audit/export";

    public static void MapAuditEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet(ExportPath, ExportAsync).RequireAuthorization(AuditAccess.Policy);

    /// <summary>The export link for a search (the page's download buttons).</summary>
    public static string LinkFor(AuditSearch search, string format)
    {
        var query = new List<string> { $"format={format}" };
        void Add(string name, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                query.Add($"{name}={Uri.EscapeDataString(value.Trim())}");
            }
        }

        Add("user", search.User);
        Add("team", search.Team);
        Add("host", search.Host);
        Add("action", search.Action);
        Add("decision", search.Decision?.ToString());
        Add("since", search.Since?.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        Add("until", search.Until?.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        return ExportPath + "?" + string.Join('&', query);
    }

    private static async Task<IResult> ExportAsync(HttpContext http, IAuditSource source, IOptions<PortalAuditOptions> options, TimeProvider time,
        string? format, string? user, string? team, string? host, string? action, string? decision, string? since, string? until)
    {
        AuditSearch search;
        try
        {
            AuditDecision? wanted = null;
            if (!string.IsNullOrWhiteSpace(decision))
            {
                wanted = Enum.TryParse<AuditDecision>(decision, ignoreCase: true, out var d) && Enum.IsDefined(d)
                    ? d
                    : throw new FormatException($"decision '{decision}' is not a decision: use {string.Join(", ", Enum.GetNames<AuditDecision>())}.");
            }

            search = new AuditSearch
            {
                User = user,
                Team = team,
                Host = host,
                Action = action,
                Decision = wanted,
                Since = AuditSearch.ParseTime(since, "since"),
                Until = AuditSearch.ParseTime(until, "until"),
            };
        }
        catch (FormatException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest, title: "Bad filter");
        }

        if (search.Problem() is { } problem)
        {
            return Results.Problem(problem, statusCode: StatusCodes.Status400BadRequest, title: "Bad filter");
        }

        var kind = (format ?? "csv").Trim().ToLowerInvariant();
        if (kind is not ("csv" or "json"))
        {
            return Results.Problem($"format '{format}' is not an export format: use csv or json.", statusCode: StatusCodes.Status400BadRequest, title: "Bad format");
        }

        var listing = await source.ReadAsync(search, options.Value.AuditExportLimit, http.RequestAborted);
        if (listing.Missing.Count > 0)
        {
            http.Response.Headers["X-Audit-Missing-Hosts"] = string.Join("; ", listing.Missing.Select(m => $"{m.Host}: {m.Reason}"))
                .Replace('\r', ' ').Replace('\n', ' ');
        }

        var name = AuditExport.FileName(time.GetUtcNow(), kind);
        return kind == "csv"
            ? Results.File(Encoding.UTF8.GetBytes(AuditExport.Csv(listing.Rows)), "text/csv; charset=utf-8", name)
            : Results.File(Encoding.UTF8.GetBytes(AuditExport.Json(listing)), "application/json", name);
    }
}
