using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Contracts;
using Portal.Web.Components.Account;
using Portal.Web.Data;
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
    [InlineData(null, "/")]
    [InlineData("", "/")]
    [InlineData("hosts", "/hosts")]
    [InlineData("/containers/a/b?x=1", "/containers/a/b?x=1")]
    [InlineData("//evil.example", "/")]
    [InlineData("/\\evil.example", "/")]
    [InlineData("https://evil.example/", "/https://evil.example/")]
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
