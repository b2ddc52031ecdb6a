using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Components.Account;
using Portal.Web.Data;
using Portal.Web.Hosts;
using Portal.Web.Model;

namespace Portal.Web.Tests;

public sealed class ModelTests
{
    [Theory]
    [InlineData("sleep 3600", new[] { "sleep", "3600" })]
    [InlineData("sh -c 'echo hello world'", new[] { "sh", "-c", "echo hello world" })]
    [InlineData("echo \"a \\\"b\\\" c\"", new[] { "echo", "a \"b\" c" })]
    [InlineData("  spaced   out  ", new[] { "spaced", "out" })]
    [InlineData("a\\ b c", new[] { "a b", "c" })]
    [InlineData("empty ''", new[] { "empty", "" })]
    [InlineData("", new string[0])]
    public void Commands_split_like_a_shell(string text, string[] expected) => Assert.Equal(expected, CommandLine.Split(text));

    [Fact]
    public void An_unclosed_quote_says_so() =>
        Assert.Contains("unclosed ' quote", Assert.Throws<FormatException>(() => CommandLine.Split("sh -c 'oops")).Message);

    [Fact]
    public void The_create_form_becomes_the_agents_spec()
    {
        var (spec, errors) = new CreateContainerForm
        {
            HostId = "h1",
            Name = " web ",
            Image = "busybox:latest",
            RuntimeType = RuntimeType.HyperV,
            Command = "sh -c 'sleep 3600'",
            Environment = "MODE=demo\n\n  LEVEL=2 \n",
            MemoryMiB = 64,
            Cpus = 0.5,
            PidsLimit = 100,
        }.ToSpec();

        Assert.Empty(errors);
        Assert.NotNull(spec);
        Assert.Equal("web", spec.Name);
        Assert.Equal(RuntimeType.HyperV, spec.RuntimeType);
        Assert.Equal(["sh", "-c", "sleep 3600"], spec.Command);
        Assert.Equal(["MODE=demo", "LEVEL=2"], spec.Environment);
        Assert.Equal(64L << 20, spec.Limits.MemoryBytes);
        Assert.Equal(0.5, spec.Limits.Cpus);
        Assert.Equal(100, spec.Limits.PidsLimit);
    }

    [Fact]
    public void The_create_form_lists_every_mistake()
    {
        var (spec, errors) = new CreateContainerForm { Image = " ", Name = "-bad", Environment = "NOEQUALS", MemoryMiB = 0, Cpus = -1, PidsLimit = 0, Command = "'open" }.ToSpec();

        Assert.Null(spec);
        Assert.Contains(errors, e => e.Contains("Choose the host"));
        Assert.Contains(errors, e => e.Contains("Enter an image"));
        Assert.Contains(errors, e => e.Contains("'-bad' is not a container name"));
        Assert.Contains(errors, e => e.Contains("Environment line 1 ('NOEQUALS') is not KEY=VALUE"));
        Assert.Contains(errors, e => e.Contains("memory limit"));
        Assert.Contains(errors, e => e.Contains("CPU limit"));
        Assert.Contains(errors, e => e.Contains("process limit"));
        Assert.Contains(errors, e => e.Contains("unclosed"));
    }

    [Theory]
    [InlineData("10.89.3", true)]
    [InlineData("edge", true)]
    [InlineData("EDGE", true)]
    [InlineData("ed", false)]
    [InlineData("10.89.4", false)]
    public void The_grid_search_finds_a_container_by_its_switch_or_address(string search, bool found)
    {
        var info = Fakes.Views.Info("web", ContainerState.Running) with { SwitchName = "edge", IpAddress = "10.89.3.2" };
        var row = new ContainerRow("h1", "alpha", Fakes.Views.View(info), null);

        Assert.Equal(found, new ContainerFilter { Search = search }.Matches(row));
    }

    [Fact]
    public void The_grid_sorts_by_a_column_either_way_with_names_breaking_ties()
    {
        var now = DateTimeOffset.UtcNow;
        ContainerRow Row(string name, ContainerState state, double? cpu) =>
            new("h1", "alpha", Fakes.Views.View(name, state), cpu is null ? null : new ContainerUsage(cpu, 1, null, 1, now));
        ContainerRow[] rows = [Row("web", ContainerState.Running, 5), Row("db", ContainerState.Stopped, null), Row("api", ContainerState.Running, 5), Row("cache", ContainerState.Running, 20)];
        string[] Names(ContainerSort sort) => [.. sort.Apply(rows, now).Select(r => r.Container.Name)];

        var sort = new ContainerSort();
        Assert.Equal(["api", "cache", "db", "web"], Names(sort));
        Assert.Equal(["web", "db", "cache", "api"], Names(sort = sort.Toggle(ContainerColumn.Name)));
        Assert.Equal(["db", "api", "web", "cache"], Names(sort = sort.Toggle(ContainerColumn.Cpu)));
        Assert.Equal(["cache", "api", "web", "db"], Names(sort.Toggle(ContainerColumn.Cpu)));
    }

    [Fact]
    public void Published_ports_and_the_switch_reach_the_spec()
    {
        var (spec, errors) = new CreateContainerForm
        {
            HostId = "h1",
            Image = "busybox:latest",
            SwitchName = "lab",
            SwitchType = SwitchType.Nat,
            Ports = "8080:80, 127.0.0.1:8443:443/tcp 9000",
        }.ToSpec();

        Assert.Empty(errors);
        Assert.NotNull(spec);
        Assert.Equal("lab", spec.SwitchName);
        Assert.Equal(
            [
                new PortMapping { HostIp = null, HostPort = 8080, ContainerPort = 80, Protocol = "tcp" },
                new PortMapping { HostIp = "127.0.0.1", HostPort = 8443, ContainerPort = 443, Protocol = "tcp" },
                new PortMapping { HostIp = null, HostPort = 0, ContainerPort = 9000, Protocol = "tcp" },
            ],
            spec.Ports);
    }

    [Fact]
    public void No_switch_takes_the_hosts_default_and_no_ports_publish_nothing()
    {
        var (spec, errors) = new CreateContainerForm { HostId = "h1", Image = "busybox:latest", SwitchName = " ", Ports = " , " }.ToSpec();

        Assert.Empty(errors);
        Assert.Null(spec!.SwitchName);
        Assert.Empty(spec.Ports);
    }

    [Theory]
    [InlineData("8080:80/udp", "uses protocol 'udp': only tcp is published")]
    [InlineData("80:http", "'http' as the container port")]
    [InlineData("99999:80", "'99999' as the host port")]
    [InlineData("8080:0", "'0' as the container port")]
    [InlineData("localhost:8080:80", "'localhost' as its host address, which is not an IPv4 address")]
    [InlineData("::1:8080:80", "too many parts")]
    [InlineData(":80", "'' as the host port")]
    public void A_bad_published_port_says_what_is_wrong_and_the_form_to_use(string ports, string expected)
    {
        var (spec, errors) = new CreateContainerForm { HostId = "h1", Image = "busybox:latest", Ports = $"8080:80, {ports}" }.ToSpec();

        Assert.Null(spec);
        var error = Assert.Single(errors);
        Assert.Contains($"Published port '{ports}' ", error);
        Assert.Contains(expected, error);
        Assert.Contains("such as 8080:80", error);
    }

    [Fact]
    public void Published_ports_on_a_switch_that_is_not_nat_are_refused()
    {
        var (spec, errors) = new CreateContainerForm { HostId = "h1", Image = "busybox:latest", SwitchName = "lab", SwitchType = SwitchType.Internal, Ports = "8080:80" }.ToSpec();

        Assert.Null(spec);
        Assert.Contains("Published ports need a NAT switch, and 'lab' is Internal", Assert.Single(errors));
    }

    [Fact]
    public void The_switch_form_becomes_the_agents_spec_or_lists_its_mistakes()
    {
        var (spec, errors) = new CreateSwitchForm { Name = " lab ", Type = SwitchType.Private, Subnet = " 10.89.5.0/24 " }.ToSpec();
        Assert.Empty(errors);
        Assert.Equal(new SwitchCreateSpec { Name = "lab", Type = SwitchType.Private, Subnet = "10.89.5.0/24" }, spec);

        Assert.Null(new CreateSwitchForm { Name = "lab" }.ToSpec().Spec!.Subnet);

        (spec, errors) = new CreateSwitchForm { Name = "-lab", Type = SwitchType.None, Subnet = "10.89.5.0" }.ToSpec();
        Assert.Null(spec);
        Assert.Contains(errors, e => e.Contains("'-lab' is not a switch name"));
        Assert.Contains(errors, e => e.Contains("A None switch cannot be created"));
        Assert.Contains(errors, e => e.Contains("'10.89.5.0' is not an IPv4 subnet: write it in CIDR form"));

        Assert.Contains("use /8 to /29", Assert.Single(new CreateSwitchForm { Name = "lab", Subnet = "10.0.0.0/30" }.ToSpec().Errors));
        Assert.Contains("Enter a name", Assert.Single(new CreateSwitchForm().ToSpec().Errors));
    }

    [Theory]
    [InlineData(null, "/")]
    [InlineData("", "/")]
    [InlineData("hosts", "/hosts")]
    [InlineData("/containers/a/b?x=1", "/containers/a/b?x=1")]
    [InlineData("//evil.example", "/")]
    [InlineData("/\\evil.example", "/")]
    [InlineData("https://evil.example/", "/https://evil.example/")]
    [InlineData("/\t/evil.example", "/")]
    [InlineData("\t//evil.example", "/")]
    [InlineData("/\r\n/evil.example", "/")]
    [InlineData("/\t\\evil.example", "/")]
    public void Sign_in_returns_only_to_this_site(string? returnUrl, string expected) => Assert.Equal(expected, Login.SafeReturnUrl(returnUrl));

    [Fact]
    public async Task The_one_time_password_passes_the_portals_password_rules()
    {
        var options = new IdentityOptions();
        PortalServices.IdentityRules(options);
        var validator = new PasswordValidator<PortalUser>();
        var users = new UserManager<PortalUser>(new NoStore(), Options.Create(options), new PasswordHasher<PortalUser>(), [], [validator], new UpperInvariantLookupNormalizer(), new IdentityErrorDescriber(), null!, null!);
        for (var i = 0; i < 50; i++)
        {
            var password = PortalDatabase.OneTimePassword();
            var result = await validator.ValidateAsync(users, new PortalUser(), password);
            Assert.True(result.Succeeded, $"{password}: {string.Join(' ', result.Errors.Select(e => e.Description))}");
        }
    }

    [Theory]
    [InlineData("ContainerNotFound: No such container: 'x'.", "ContainerNotFound", "No such container: 'x'.")]
    [InlineData("An unexpected error occurred invoking 'StartContainer' on the server. HubException: InvalidTransition: Container 'web' is running; stop it first.", "InvalidTransition", "Container 'web' is running; stop it first.")]
    [InlineData("An unexpected error occurred invoking 'StartContainer' on the server.", "RuntimeFailure", "An unexpected error occurred invoking 'StartContainer' on the server.")]
    public void Hub_errors_split_into_the_agents_code_and_message(string hubMessage, string code, string message)
    {
        var e = Portal.Client.AgentException.FromHub(new Microsoft.AspNetCore.SignalR.HubException(hubMessage));
        Assert.Equal(code, e.Code);
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(64L << 20, "64 MiB")]
    [InlineData(5L << 30, "5 GiB")]
    public void Sizes_read_well(long bytes, string expected) => Assert.Equal(expected, Format.Bytes(bytes));

    [Fact]
    public void Durations_read_well()
    {
        Assert.Equal("42s", Format.Duration(TimeSpan.FromSeconds(42)));
        Assert.Equal("3m 5s", Format.Duration(TimeSpan.FromSeconds(185)));
        Assert.Equal("2h 1m", Format.Duration(TimeSpan.FromMinutes(121)));
        Assert.Equal("3d 4h", Format.Duration(TimeSpan.FromHours(76)));
        Assert.Equal("42s", Format.Uptime(TimeSpan.FromSeconds(42)));
        Assert.Equal("3m", Format.Uptime(TimeSpan.FromSeconds(185)));
        Assert.Equal("2h 1m", Format.Uptime(TimeSpan.FromSeconds(7265)));
    }

    private sealed class NoStore : IUserStore<PortalUser>
    {
        public void Dispose()
        {
        }

        public Task<IdentityResult> CreateAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IdentityResult> DeleteAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<PortalUser?> FindByIdAsync(string userId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<PortalUser?> FindByNameAsync(string normalizedUserName, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<string?> GetNormalizedUserNameAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<string> GetUserIdAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<string?> GetUserNameAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetNormalizedUserNameAsync(PortalUser user, string? normalizedName, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetUserNameAsync(PortalUser user, string? userName, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IdentityResult> UpdateAsync(PortalUser user, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
