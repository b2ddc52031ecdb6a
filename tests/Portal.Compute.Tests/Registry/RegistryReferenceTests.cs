using Portal.Compute.Registry;

namespace Portal.Compute.Tests.Registry;

public sealed class RegistryReferenceTests
{
    private const string Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("nginx", "docker.io", "library/nginx", "latest", null, "nginx:latest")]
    [InlineData("library/nginx:1.27", "docker.io", "library/nginx", "1.27", null, "nginx:1.27")]
    [InlineData("docker.io/someone/app", "docker.io", "someone/app", "latest", null, "someone/app:latest")]
    [InlineData("index.docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", null, "busybox:1.36")]
    [InlineData("ghcr.io/org/app@" + Digest, "ghcr.io", "org/app", null, Digest, null)]
    [InlineData("127.0.0.1:5000/team/app:v2", "127.0.0.1:5000", "team/app", "v2", null, "127.0.0.1:5000/team/app:v2")]
    [InlineData("localhost/app", "localhost", "app", "latest", null, "localhost/app:latest")]
    [InlineData("mcr.microsoft.com/dotnet/runtime:10.0@" + Digest, "mcr.microsoft.com", "dotnet/runtime", "10.0", Digest, "mcr.microsoft.com/dotnet/runtime:10.0")]
    [InlineData("[::1]:5000/a/b", "[::1]:5000", "a/b", "latest", null, "[::1]:5000/a/b:latest")]
    public void Parses_AsDockerDoes(string text, string registry, string repository, string? tag, string? digest, string? familiarTag)
    {
        var reference = RegistryReference.Parse(text);

        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Equal(digest, reference.Digest);
        Assert.Equal(familiarTag, reference.FamiliarTag);
        Assert.Equal(digest ?? tag, reference.ManifestReference);
    }

    [Fact]
    public void DockerHub_IsAskedAtItsApiHost()
    {
        Assert.Equal("registry-1.docker.io", RegistryReference.Parse("nginx").Endpoint);
        Assert.Equal("ghcr.io", RegistryReference.Parse("ghcr.io/a/b").Endpoint);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Nginx", "lowercase")]
    [InlineData("nginx:-bad", "is not a tag")]
    [InlineData("nginx@sha256:abc", "is not a digest")]
    [InlineData("nginx@md5:0123456789abcdef0123456789abcdef", "is not a digest")]
    [InlineData("team//app", "is not a repository name component")]
    [InlineData("a/-app", "is not a repository name component")]
    [InlineData("bad_host.example:99x/app", "is not a registry host")]
    public void InvalidReferences_SayWhatIsWrong(string text, string why)
    {
        var error = Assert.Throws<ComputeException>(() => RegistryReference.Parse(text));

        Assert.Equal(ComputeErrorCode.InvalidArgument, error.Code);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
