using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Web.Data;
using Portal.Web.Hosts;

namespace Portal.Web.Tests;

public sealed class HostRegistryTests : IDisposable
{
    private readonly PortalTestContext _ctx = new();

    private HostRegistry Registry => _ctx.Services.GetRequiredService<HostRegistry>();

    public void Dispose() => _ctx.Dispose();

    [Fact]
    public async Task Api_keys_are_protected_at_rest_and_come_back_in_the_clear()
    {
        const string key = "pk_1a2b3c4d_supersecretvalue";
        await Registry.AddAsync("web-01", "http://10.0.0.5:5081/", key, CancellationToken.None);

        await using (var db = await _ctx.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            var record = await db.Hosts.SingleAsync();
            Assert.NotNull(record.ProtectedApiKey);
            Assert.DoesNotContain("supersecretvalue", record.ProtectedApiKey);
            Assert.Equal("http://10.0.0.5:5081", record.Address);
        }

        var host = Assert.Single(await Registry.ListAsync(CancellationToken.None));
        Assert.Equal(key, host.Endpoint.ApiKey);
        Assert.Equal(new Uri("http://10.0.0.5:5081/"), host.Endpoint.BaseAddress);
    }

    [Fact]
    public async Task The_local_socket_needs_no_key()
    {
        var host = await Registry.AddAsync("local", "unix:///run/portal/agent.sock", null, CancellationToken.None);
        Assert.Equal("/run/portal/agent.sock", host.Endpoint.SocketPath);
        Assert.Null(host.Endpoint.ApiKey);
    }

    [Theory]
    [InlineData("bad name!", "http://h:5081", "pk_x", "is not a host name")]
    [InlineData("", "http://h:5081", "pk_x", "is not a host name")]
    [InlineData("web", "", "pk_x", "address is empty")]
    [InlineData("web", "10.0.0.5:5081", "pk_x", "is not an agent address")]
    [InlineData("web", "not an address", "pk_x", "is not an agent address")]
    [InlineData("web", "ftp://h:5081", "pk_x", "has scheme 'ftp'")]
    [InlineData("web", "http://h:5081", "", "needs an API key")]
    public async Task Bad_input_is_refused_with_what_to_fix(string name, string address, string key, string expected)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Registry.AddAsync(name, address, key, CancellationToken.None));
        Assert.Contains(expected, e.Message);
        Assert.Empty(await Registry.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_name_is_used_once()
    {
        await Registry.AddAsync("web", "http://a:5081", "pk_a", CancellationToken.None);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Registry.AddAsync("web", "http://b:5081", "pk_b", CancellationToken.None));
        Assert.Contains("already registered", e.Message);
    }
}
