using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Tests.Data;

namespace Portal.Web.Tests;

/// <summary>The host registry on each database: a temporary SQLite file, and PostgreSQL (as root).</summary>
public abstract class HostRegistryTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private PortalTestContext _ctx = null!;

    private HostRegistry Registry => _ctx.Services.GetRequiredService<HostRegistry>();

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        _ctx = new PortalTestContext(_database.Storage);
    }

    public async Task DisposeAsync()
    {
        await _ctx.DisposeAsync();
        await _database.DisposeAsync();
    }

    public sealed class OnSqlite : HostRegistryTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
    }

    [RootOnlyTests]
    [Collection(PostgreSqlCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServer server) : HostRegistryTests
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => server.CreateDatabaseAsync();
    }

    [DatabaseFact]
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

    [DatabaseFact]
    public async Task The_local_socket_needs_no_key()
    {
        var host = await Registry.AddAsync("local", "unix:///run/portal/agent.sock", null, CancellationToken.None);
        Assert.Equal("/run/portal/agent.sock", host.Endpoint.SocketPath);
        Assert.Null(host.Endpoint.ApiKey);
    }

    [DatabaseTheory]
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

    [DatabaseFact]
    public async Task A_name_is_used_once()
    {
        await Registry.AddAsync("web", "http://a:5081", "pk_a", CancellationToken.None);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Registry.AddAsync("web", "http://b:5081", "pk_b", CancellationToken.None));
        Assert.Contains("already registered", e.Message);
    }
}
