using Portal.Contracts;
using Portal.Web.Audit;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests.Audit;

/// <summary>CSV as RFC 4180 quotes it, with the guard against spreadsheet formulas; JSON with the hosts not read.</summary>
public sealed class AuditExportTests
{
    [Theory]
    [InlineData(null, "")]
    [InlineData("", "")]
    [InlineData("web", "web")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    [InlineData("cr\rlf", "\"cr\rlf\"")]
    [InlineData("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"")]
    [InlineData("=1+1", "'=1+1")]
    [InlineData("+1", "'+1")]
    [InlineData("-2", "'-2")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\tcmd", "'\tcmd")]
    [InlineData("a=b", "a=b")]
    public void A_field_is_quoted_per_RFC_4180_and_a_formula_is_defused(string? value, string expected) =>
        Assert.Equal(expected, AuditExport.Field(value));

    [Fact]
    public void The_csv_has_a_header_and_one_CRLF_line_per_entry_with_every_column()
    {
        var time = new DateTimeOffset(2026, 12, 3, 12, 0, 1, 123, TimeSpan.Zero);
        var rows = new[]
        {
            FakeAuditSource.Row("alpha", 42, time, "container.create", actor: "=cmd|' /C calc'!A0", team: "blue", decision: AuditDecision.Denied,
                rule: "isolation", reason: "Team blue allows HyperV only, not Default.", targetName: "web, the \"front\""),
        };

        var csv = AuditExport.Csv(rows);

        var lines = csv.Split("\r\n");
        Assert.Equal(3, lines.Length);
        Assert.Equal("", lines[2]);
        Assert.Equal(string.Join(',', AuditExport.Columns), lines[0]);
        Assert.Equal("2026-12-03T12:00:01.123Z,alpha,42,'=cmd|' /C calc'!A0,ApiKey,,,blue,Rest,127.0.0.1:50312,container.create,"
            + "alpha,container,0000002adeadbeef,\"web, the \"\"front\"\"\",HyperV,,Denied,isolation,\"Team blue allows HyperV only, not Default.\",NotRun,", lines[1]);
    }

    [Fact]
    public void The_json_holds_the_entries_with_their_host_and_names_the_hosts_not_read()
    {
        var row = FakeAuditSource.Row("alpha", 7, DateTimeOffset.UnixEpoch, "container.remove");
        var json = AuditExport.Json(new AuditListing([row], [new MissingHost("beta", "not connected: refused")], false));

        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal("beta", doc.RootElement.GetProperty("missingHosts")[0].GetProperty("host").GetString());
        var entry = doc.RootElement.GetProperty("entries")[0];
        Assert.Equal("alpha", entry.GetProperty("host").GetString());
        Assert.Equal("container.remove", entry.GetProperty("entry").GetProperty("action").GetString());
        Assert.Equal("Allowed", entry.GetProperty("entry").GetProperty("decision").GetString());
    }
}
