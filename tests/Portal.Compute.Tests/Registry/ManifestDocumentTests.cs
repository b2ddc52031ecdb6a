using System.Text;
using Portal.Compute.Registry;

namespace Portal.Compute.Tests.Registry;

public sealed class ManifestDocumentTests
{
    private static readonly string A = "sha256:" + new string('a', 64);
    private static readonly string B = "sha256:" + new string('b', 64);
    private static readonly string C = "sha256:" + new string('c', 64);

    [Fact]
    public void AuthChallenge_ReadsBearerParameters_WithQuotedCommas()
    {
        var challenge = AuthChallenge.Parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"")!;

        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example/token", challenge.Realm);
        Assert.Equal("registry.example", challenge.Service);
        Assert.Equal("repository:a/b:pull,push", challenge.Scope);
        Assert.True(AuthChallenge.Parse("Basic realm=\"x\"")!.IsBasic);
        Assert.Null(AuthChallenge.Parse(" "));
    }

    [Fact]
    public void Index_PicksThisHostsPlatform_AndNeverAnAttestation()
    {
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"{{{ManifestDocument.OciIndex}}}","manifests":[
              {"mediaType":"{{{ManifestDocument.OciManifest}}}","digest":"{{{A}}}","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"{{{ManifestDocument.OciManifest}}}","digest":"{{{C}}}","size":10,"platform":{"os":"unknown","architecture":"unknown"}},
              {"mediaType":"{{{ManifestDocument.OciManifest}}}","digest":"{{{B}}}","size":10,"platform":{"os":"linux","architecture":"amd64"}}]}
            """;
        var index = ManifestDocument.Parse(Encoding.UTF8.GetBytes(json), null, A, "test");

        Assert.True(index.IsIndex);
        Assert.Equal(B, index.PickPlatform("linux", "amd64", null)!.Digest);
        Assert.Equal(A, index.PickPlatform("linux", "arm64", "v8")!.Digest);
        Assert.Null(index.PickPlatform("linux", "s390x", null));
    }

    [Fact]
    public void Index_PrefersTheHostsVariant()
    {
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"{{{ManifestDocument.DockerList}}}","manifests":[
              {"mediaType":"{{{ManifestDocument.DockerManifest}}}","digest":"{{{A}}}","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v6"}},
              {"mediaType":"{{{ManifestDocument.DockerManifest}}}","digest":"{{{B}}}","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}
            """;

        Assert.Equal(B, ManifestDocument.Parse(Encoding.UTF8.GetBytes(json), null, A, "test").PickPlatform("linux", "arm", "v7")!.Digest);
    }

    [Fact]
    public void ImageManifest_ReadsConfigAndLayers_InOrder()
    {
        var json = $$$"""
            {"schemaVersion":2,"mediaType":"{{{ManifestDocument.DockerManifest}}}",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{{{A}}}","size":5},
             "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{{{B}}}","size":7},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"{{{C}}}","size":9}]}
            """;
        var manifest = ManifestDocument.Parse(Encoding.UTF8.GetBytes(json), "text/plain", A, "test");

        Assert.False(manifest.IsIndex);
        Assert.Equal(A, manifest.Config!.Digest);
        Assert.Equal([B, C], manifest.Layers.Select(l => l.Digest));
        Assert.Equal([7L, 9L], manifest.Layers.Select(l => l.Size));
    }

    [Theory]
    [InlineData("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", "schema 1")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{", "not JSON")]
    [InlineData("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}", "is not sha256:")]
    [InlineData("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":-1},\"layers\":[]}", "no valid size")]
    [InlineData("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":1},\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"size\":1}]}", "foreign")]
    public void BadManifests_AreRefused_WithTheReason(string json, string why)
    {
        var error = Assert.Throws<ComputeException>(() => ManifestDocument.Parse(Encoding.UTF8.GetBytes(json), null, A, "registry.example/app:1"));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("registry.example/app:1", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
