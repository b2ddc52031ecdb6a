namespace Portal.Docker.Tests.Integration;

/// <summary>
/// The real docker CLI's login, pull and run of a missing image against the agent, from a real registry on loopback that
/// wants a login (Distribution with htpasswd, <see cref="RegistryServer"/>).
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerPullTests : IAsyncLifetime
{
    private readonly string _layouts = Directory.CreateTempSubdirectory("portal-docker-pull-").FullName;
    private RegistryServer? _registry;
    private DockerAgent? _agent;

    private RegistryServer Registry => _registry!;

    private DockerAgent Agent => _agent!;

    public async Task InitializeAsync()
    {
        if (!RootOnly.IsRoot)
        {
            return;
        }

        _registry = await RegistryServer.StartAsync(RegistryAuth.Htpasswd);
        foreach (var name in new[] { "tool", "other" })
        {
            var layout = Path.Combine(_layouts, name);
            TestImages.WriteBusyboxLayout(layout, $"marker of {name}\n");
            await _registry.PushAsync(layout, $"team/{name}:1");
        }

        _agent = await DockerAgent.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        Directory.Delete(_layouts, recursive: true);
    }

    [RootFact]
    public async Task Login_pull_and_run_of_a_missing_image_work_under_both_isolations()
    {
        var image = $"{Registry.Address}/team/tool:1";
        var anonymous = await Agent.DockerAsync("pull", image);
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.Contains($"docker login {Registry.Address}", anonymous.Stderr);

        var wrong = await Agent.DockerWithInputAsync("not-the-password\n", "login", Registry.Address, "-u", RegistryServer.User, "--password-stdin");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains($"refused the user name or password of '{RegistryServer.User}'", wrong.Stderr);

        var login = await Agent.DockerWithInputAsync(RegistryServer.Password + "\n", "login", Registry.Address, "-u", RegistryServer.User, "--password-stdin");
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("Login Succeeded", login.Stdout);

        var pull = await Agent.DockerAsync("pull", image);
        Assert.True(pull.ExitCode == 0, pull.ToString());
        Assert.Contains("Pull complete", pull.Stdout.Replace("Download complete", "Pull complete", StringComparison.Ordinal));
        Assert.Contains("Digest: sha256:", pull.Stdout);
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Stdout);
        var again = await Agent.DockerAsync("pull", image);
        Assert.Contains($"Status: Image is up to date for {image}", again.Stdout);

        var digests = await Agent.DockerAsync("images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}");
        Assert.Contains($"{Registry.Address}/team/tool:1 sha256:", digests.Stdout);

        var process = await Agent.DockerAsync("run", "--rm", "--isolation=process", image, "cat", "/marker");
        Assert.True(process.ExitCode == 0, process.ToString());
        Assert.Equal("marker of tool\n", process.Stdout);

        // Not pulled yet: docker run pulls it first (the CLI asks the engine after its 404), then runs it in a VM.
        var other = $"{Registry.Address}/team/other:1";
        var vm = await Agent.DockerAsync("run", "--rm", "--isolation=hyperv", other, "cat", "/marker");
        Assert.True(vm.ExitCode == 0, vm.ToString());
        Assert.Contains($"Unable to find image '{other}' locally", vm.Stderr);
        Assert.Equal("marker of other\n", vm.Stdout);

        var missing = await Agent.DockerAsync("pull", $"{Registry.Address}/team/none:1");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("has no manifest '1' for team/none", missing.Stderr);
    }
}
