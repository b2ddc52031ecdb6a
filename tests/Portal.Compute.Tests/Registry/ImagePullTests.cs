using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Compute.Images;
using Portal.Compute.Registry;
using Portal.Compute.Tests.Images;

namespace Portal.Compute.Tests.Registry;

/// <summary>
/// Pulls from a real registry (Distribution 2.8 on loopback, <see cref="RegistryServer"/>) into a real image store:
/// root, because the store builds and mounts erofs disks.
/// </summary>
[Trait("Requires", "root")]
public sealed class ImagePullTests
{
    private static readonly TestLayer Base = new(new TarBuilder().Dir("srv").File("srv/base.txt", "base").ToBytes(), Gzip: true);
    private static readonly TestLayer App = new(new TarBuilder().File("srv/app.txt", "app one").ToBytes(), Zstd: true);
    private static readonly TestLayer AppTwo = new(new TarBuilder().File("srv/app.txt", "app two").ToBytes(), Gzip: true);

    [RootFact]
    public async Task A_pull_by_tag_then_by_digest_gives_the_image_with_its_files_name_and_repository_digest()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        var id = ImageArchives.WriteOciLayout(sandbox.PathIn("layout"), [Base, App], null);
        await registry.PushAsync(sandbox.PathIn("layout"), "team/app:1");
        var (puller, client) = Puller(sandbox);
        using var _ = client;
        var steps = new List<PullProgress>();

        var image = await puller.PullAsync($"{registry.Address}/team/app:1", null, null, new SynchronousProgress<PullProgress>(steps.Add), CancellationToken.None);

        Assert.Equal(id, image.Id);
        Assert.Equal([$"{registry.Address}/team/app:1"], image.Tags);
        Assert.Equal([Base.DiffId, App.DiffId], image.Layers);
        var repositoryDigest = Assert.Single(image.RepoDigests);
        Assert.StartsWith($"{registry.Address}/team/app@sha256:", repositoryDigest, StringComparison.Ordinal);
        Assert.Contains(steps, s => s.Status == "Downloading" && s.Current == s.Total && s.Id is not null);
        Assert.Contains(steps, s => s.Status == $"Digest: {repositoryDigest.Split('@')[1]}");
        await using (var mount = await sandbox.MountDiskAsync(image.DiskPath))
        {
            Assert.Equal("base", await File.ReadAllTextAsync(Path.Combine(mount.Path, "srv/base.txt")));
            Assert.Equal("app one", await File.ReadAllTextAsync(Path.Combine(mount.Path, "srv/app.txt")));
        }

        // By digest: the same image, and every layer is already here.
        steps.Clear();
        var again = await puller.PullAsync(repositoryDigest, null, null, new SynchronousProgress<PullProgress>(steps.Add), CancellationToken.None);
        Assert.Equal(id, again.Id);
        Assert.Equal(2, steps.Count(s => s.Status == "Already exists"));
        Assert.DoesNotContain(steps, s => s.Status == "Downloading");
    }

    [RootFact]
    public async Task A_second_image_sharing_a_layer_fetches_only_its_new_layer()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        ImageArchives.WriteOciLayout(sandbox.PathIn("one"), [Base, App], null);
        ImageArchives.WriteOciLayout(sandbox.PathIn("two"), [Base, AppTwo], null);
        await registry.PushAsync(sandbox.PathIn("one"), "team/app:1");
        await registry.PushAsync(sandbox.PathIn("two"), "team/app:2");
        var (puller, client) = Puller(sandbox);
        using var _ = client;
        await puller.PullAsync($"{registry.Address}/team/app:1", null, null, null, CancellationToken.None);
        var steps = new List<PullProgress>();

        var two = await puller.PullAsync($"{registry.Address}/team/app:2", null, null, new SynchronousProgress<PullProgress>(steps.Add), CancellationToken.None);

        Assert.Equal([ShortId(Base)], steps.Where(s => s.Status == "Already exists").Select(s => s.Id));
        Assert.Equal([ShortId(AppTwo)], steps.Where(s => s.Status == "Download complete").Select(s => s.Id));
        await using var mount = await sandbox.MountDiskAsync(two.DiskPath);
        Assert.Equal("app two", await File.ReadAllTextAsync(Path.Combine(mount.Path, "srv/app.txt")));
    }

    [RootFact]
    public async Task A_team_never_gets_another_teams_cached_blobs_only_its_own_and_the_administrators()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        ImageArchives.WriteOciLayout(sandbox.PathIn("layout"), [Base, App], null);
        await registry.PushAsync(sandbox.PathIn("layout"), "team/app:1");
        var (puller, client) = Puller(sandbox);
        using var _ = client;
        var reference = $"{registry.Address}/team/app:1";
        async Task<List<PullProgress>> PullAsync(string? team)
        {
            var steps = new List<PullProgress>();
            await puller.PullAsync(reference, team, null, new SynchronousProgress<PullProgress>(steps.Add), CancellationToken.None);
            return steps;
        }

        // Red fetches both layers; blue, whose registry only names their digests here, must fetch them itself.
        Assert.Equal(2, (await PullAsync("red")).Count(s => s.Status == "Download complete"));
        Assert.Equal(2, (await PullAsync("blue")).Count(s => s.Status == "Download complete"));
        Assert.Equal(2, (await PullAsync("red")).Count(s => s.Status == "Already exists"));

        // The administrators use any cached blob; what they fetch, every team may use (their images are every team's).
        Assert.Equal(2, (await PullAsync(null)).Count(s => s.Status == "Already exists"));
        await using var other = await RegistryServer.StartAsync();
        await other.PushAsync(sandbox.PathIn("layout"), "shared/app:1");
        await puller.PullAsync($"{other.Address}/shared/app:1", null, null, null, CancellationToken.None);
        var steps = new List<PullProgress>();
        ImageArchives.WriteOciLayout(sandbox.PathIn("green"), [Base, AppTwo], null);
        await other.PushAsync(sandbox.PathIn("green"), "green/app:1");
        await puller.PullAsync($"{other.Address}/green/app:1", "green", null, new SynchronousProgress<PullProgress>(steps.Add), CancellationToken.None);
        Assert.Equal([ShortId(Base)], steps.Where(s => s.Status == "Already exists").Select(s => s.Id));
    }

    [RootFact]
    public async Task An_index_gives_this_hosts_platform()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        var layout = sandbox.PathIn("multi");
        WriteTwoPlatformLayout(layout, out var amd64Id);
        await registry.PushAsync(layout, "team/multi:1", allImages: true);
        var (puller, client) = Puller(sandbox);
        using var _ = client;

        var image = await puller.PullAsync($"{registry.Address}/team/multi:1", null, null, null, CancellationToken.None);

        Assert.Equal(amd64Id, image.Id);
        await using var mount = await sandbox.MountDiskAsync(image.DiskPath);
        Assert.Equal("amd64", await File.ReadAllTextAsync(Path.Combine(mount.Path, "arch")));
    }

    [RootFact]
    public async Task A_blob_damaged_in_the_registry_is_refused_and_nothing_half_imported_remains()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        ImageArchives.WriteOciLayout(sandbox.PathIn("layout"), [Base, App], null);
        await registry.PushAsync(sandbox.PathIn("layout"), "team/app:1");
        var hex = TarBuilder.Digest(App.Blob)["sha256:".Length..];
        var stored = Path.Combine(registry.Storage, "docker/registry/v2/blobs/sha256", hex[..2], hex, "data");
        var bytes = await File.ReadAllBytesAsync(stored);
        bytes[^3] ^= 0xff;
        await File.WriteAllBytesAsync(stored, bytes);
        var (puller, client) = Puller(sandbox);
        using var _ = client;

        var error = await Assert.ThrowsAsync<ComputeException>(() => puller.PullAsync($"{registry.Address}/team/app:1", null, null, null, CancellationToken.None));

        Assert.Equal(ComputeErrorCode.ImageRejected, error.Code);
        Assert.Contains($"sha256:{hex}", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not match its digest", error.Message, StringComparison.Ordinal);
        Assert.Empty(sandbox.Store.List());
        Assert.Empty(Directory.GetFiles(Path.Combine(sandbox.Options.Root, "blobs", "partial")));
        Assert.False(File.Exists(Path.Combine(puller.BlobDirectory, hex)));
    }

    [RootTheory]
    [InlineData(RegistryAuth.Htpasswd)]
    [InlineData(RegistryAuth.Token)]
    public async Task A_registry_that_wants_a_login_takes_the_right_credential_and_refuses_others_clearly(RegistryAuth auth)
    {
        await using var registry = await RegistryServer.StartAsync(auth);
        using var sandbox = new ImageStoreSandbox();
        ImageArchives.WriteOciLayout(sandbox.PathIn("layout"), [Base], null);
        await registry.PushAsync(sandbox.PathIn("layout"), "private/app:1");
        var reference = $"{registry.Address}/private/app:1";

        var (puller, client) = Puller(sandbox);
        using var _ = client;
        var anonymous = await Assert.ThrowsAsync<ComputeException>(() => puller.PullAsync(reference, null, null, null, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.RegistryAuthenticationFailed, anonymous.Code);
        Assert.Contains($"docker login {registry.Address}", anonymous.Message, StringComparison.Ordinal);

        var wrong = new RegistryCredential(RegistryServer.User, "not-the-password");
        var refused = await Assert.ThrowsAsync<ComputeException>(() => puller.PullAsync(reference, null, wrong, null, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.RegistryAuthenticationFailed, refused.Code);
        Assert.Contains($"'{RegistryServer.User}'", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", refused.Message, StringComparison.Ordinal);
        var login = await Assert.ThrowsAsync<ComputeException>(() => client.LoginAsync(registry.Address, wrong, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.RegistryAuthenticationFailed, login.Code);

        var right = new RegistryCredential(RegistryServer.User, RegistryServer.Password);
        await client.LoginAsync(registry.Address, right, CancellationToken.None);
        var image = await puller.PullAsync(reference, null, right, null, CancellationToken.None);
        Assert.Equal([reference], image.Tags);

        if (auth == RegistryAuth.Token)
        {
            Assert.Contains($"{RegistryServer.User} repository:private/app:pull", registry.TokenRequests);
        }
    }

    [RootFact]
    public async Task A_missing_tag_and_an_unreachable_registry_say_so()
    {
        await using var registry = await RegistryServer.StartAsync();
        using var sandbox = new ImageStoreSandbox();
        var (puller, client) = Puller(sandbox);
        using var _ = client;

        var missing = await Assert.ThrowsAsync<ComputeException>(() => puller.PullAsync($"{registry.Address}/team/none:1", null, null, null, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.ImageNotFound, missing.Code);
        Assert.Contains("has no manifest '1' for team/none", missing.Message, StringComparison.Ordinal);

        var nobody = $"127.0.0.1:{FreeTcpPort.Next()}";
        var unreachable = await Assert.ThrowsAsync<ComputeException>(() => puller.PullAsync($"{nobody}/team/app:1", null, null, null, CancellationToken.None));
        Assert.Equal(ComputeErrorCode.Unavailable, unreachable.Code);
        Assert.Contains($"{nobody} cannot be reached", unreachable.Message, StringComparison.Ordinal);
    }

    private static (ImagePuller Puller, RegistryClient Client) Puller(ImageStoreSandbox sandbox)
    {
        var options = new RegistryOptions();
        var client = new RegistryClient(RegistryClient.DefaultHandler(), options, TimeProvider.System);
        return (new ImagePuller(sandbox.Store, client, options, NullLogger<ImagePuller>.Instance), client);
    }

    private static string ShortId(TestLayer layer) => TarBuilder.Digest(layer.Blob)["sha256:".Length..][..12];

    /// <summary>An OCI layout whose index holds an arm64 and an amd64 image, each with a file naming its architecture.</summary>
    private static void WriteTwoPlatformLayout(string layout, out string amd64Id)
    {
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var entries = new JsonArray();
        amd64Id = string.Empty;
        foreach (var architecture in new[] { "arm64", "amd64" })
        {
            var layer = new TestLayer(new TarBuilder().File("arch", architecture).ToBytes(), Gzip: true);
            var config = JsonNode.Parse(ImageArchives.Config([layer]))!.AsObject();
            config["architecture"] = architecture;
            var configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
            var configId = ImageArchives.WriteBlob(layout, configBytes);
            ImageArchives.WriteBlob(layout, layer.Blob);
            var manifest = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = ManifestDocument.OciManifest,
                ["config"] = ImageArchives.Descriptor("application/vnd.oci.image.config.v1+json", configBytes),
                ["layers"] = new JsonArray(ImageArchives.Descriptor(layer.MediaType, layer.Blob)),
            }.ToJsonString());
            ImageArchives.WriteBlob(layout, manifest);
            var entry = ImageArchives.Descriptor(ManifestDocument.OciManifest, manifest);
            entry["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = architecture };
            entries.Add(entry);
            if (architecture == "amd64")
            {
                amd64Id = configId;
            }
        }

        var index = Encoding.UTF8.GetBytes(new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = ManifestDocument.OciIndex, ["manifests"] = entries }.ToJsonString());
        ImageArchives.WriteBlob(layout, index);
        File.WriteAllText(Path.Combine(layout, "index.json"),
            new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(ImageArchives.Descriptor(ManifestDocument.OciIndex, index)) }.ToJsonString());
    }
}
