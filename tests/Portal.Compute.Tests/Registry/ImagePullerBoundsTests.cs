using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Registry;
using Portal.Compute.Tests.Images;

namespace Portal.Compute.Tests.Registry;

/// <summary>A manifest's declared sizes are a registry's word: a pull that would not fit is refused before any download.</summary>
public sealed class ImagePullerBoundsTests
{
    [Theory]
    [InlineData(2L << 30)]
    [InlineData(long.MaxValue)]
    public async Task Blobs_larger_than_an_image_may_be_are_refused_before_any_download(long layerSize)
    {
        using var sandbox = new ImageStoreSandbox(maxBytes: 1L << 30);
        var handler = Registry(layerSize);

        var error = await Assert.ThrowsAsync<ComputeException>(() => Puller(sandbox, handler).PullAsync("registry.example/team/app:1", null, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("Compute:ImageImportMaxBytes", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Requests, r => r.AbsolutePath.Contains("/blobs/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Blobs_that_would_eat_the_free_space_reserve_are_refused_before_any_download()
    {
        using var sandbox = new ImageStoreSandbox(minFreeBytes: 1L << 30, freeBytes: _ => 2L << 30);
        var handler = Registry(1536L << 20);

        var error = await Assert.ThrowsAsync<ComputeException>(() => Puller(sandbox, handler).PullAsync("registry.example/team/app:1", null, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains("Not enough disk space for pulling registry.example/team/app:1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(handler.Requests, r => r.AbsolutePath.Contains("/blobs/", StringComparison.Ordinal));
    }

    /// <summary>A registry whose manifest declares two layers of <paramref name="layerSize"/> bytes; blobs are never served.</summary>
    private static ScriptedHandler Registry(long layerSize)
    {
        var manifest = $$$"""
            {"schemaVersion":2,"mediaType":"{{{ManifestDocument.OciManifest}}}",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{{{new string('a', 64)}}}","size":10},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{{{new string('b', 64)}}}","size":{{{layerSize}}}},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{{{new string('c', 64)}}}","size":{{{layerSize}}}}]}
            """;
        return new ScriptedHandler(request => request.RequestUri!.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal)
            ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(manifest, Encoding.UTF8, ManifestDocument.OciManifest) }
            : new HttpResponseMessage(HttpStatusCode.InternalServerError));
    }

    private static ImagePuller Puller(ImageStoreSandbox sandbox, ScriptedHandler handler)
    {
        var options = new RegistryOptions();
        return new ImagePuller(sandbox.Store, new RegistryClient(handler, options, TimeProvider.System), options, NullLogger<ImagePuller>.Instance);
    }
}
