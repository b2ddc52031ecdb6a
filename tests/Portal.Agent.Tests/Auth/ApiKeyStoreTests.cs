using Microsoft.Extensions.Options;
using Portal.Agent.Auth;
using Portal.Compute;
using Portal.Compute.Storage;
using Portal.Contracts.Hub;

namespace Portal.Agent.Tests.Auth;

/// <summary>The key store alone (unit tier): keys are hashes in a 0600 file, revoked and rotated secrets stop at once, hostile tokens are refused.</summary>
public sealed class ApiKeyStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("portal-keys-").FullName;

    private ApiKeyStore Open() => new(Options.Create(new ComputeOptions { StateRoot = _root }));

    private string KeyFile => Path.Combine(_root, "agent", "api-keys.json");

    [Fact]
    public async Task A_created_key_validates_with_its_scope_and_only_its_hash_is_stored()
    {
        var store = Open();
        Assert.True(store.IsEmpty);
        var created = await store.CreateAsync("ci", ApiScope.Operate);

        Assert.StartsWith("pk_" + created.Key.Id + "_", created.Secret);
        Assert.Equal(ApiScope.Operate, store.Validate(created.Secret)?.Scope);
        var secret = created.Secret.Split('_', 3)[2];
        Assert.DoesNotContain(secret, File.ReadAllText(KeyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));

        // Another agent process (a restart) reads the same keys.
        Assert.Equal("ci", Open().Validate(created.Secret)?.Name);
    }

    [Fact]
    public async Task A_key_is_handed_over_before_it_is_saved_so_a_crash_between_never_leaves_a_key_nobody_has()
    {
        var store = Open();
        string? handed = null;
        var created = await store.CreateAsync("first admin", ApiScope.Admin, handOver: (secret, _) =>
        {
            Assert.False(File.Exists(KeyFile) && File.ReadAllText(KeyFile).Contains(secret.Split('_')[1], StringComparison.Ordinal)); // not saved yet
            handed = secret;
            return Task.CompletedTask;
        });
        Assert.Equal(created.Secret, handed);

        // The hand-over failing (the agent dying there) leaves no key: the next start makes one again.
        await Assert.ThrowsAsync<IOException>(() => Open().CreateAsync("first admin", ApiScope.Admin, handOver: (_, _) => throw new IOException("disk full")));
        Assert.Single(Open().List());
    }

    [Fact]
    public async Task Rotation_and_revocation_take_effect_at_once()
    {
        var store = Open();
        var created = await store.CreateAsync("portal", ApiScope.Admin);
        var rotated = await store.RotateAsync(created.Key.Id);
        Assert.Null(store.Validate(created.Secret));
        Assert.NotNull(store.Validate(rotated.Secret));
        Assert.NotNull(rotated.Key.RotatedAt);

        var revoked = await store.RevokeAsync(created.Key.Id);
        Assert.NotNull(revoked.RevokedAt);
        Assert.Null(store.Validate(rotated.Secret));
        Assert.Null(Open().Validate(rotated.Secret));
        var again = await Assert.ThrowsAsync<ComputeException>(() => store.RotateAsync(created.Key.Id));
        Assert.Contains("No active API key", again.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("pk_")]
    [InlineData("pk__")]
    [InlineData("Bearer pk_12345678_abcdefghijklmnopqrstuvwxyz")]
    [InlineData("pk_1234567_abcdefghijklmnopqrstuvwxyz")]
    [InlineData("pk_12345678_short")]
    [InlineData("xk_12345678_abcdefghijklmnopqrstuvwxyz")]
    [InlineData("pk_zzzzzzzz_abcdefghijklmnopqrstuvwxyz")]
    public async Task Malformed_or_unknown_tokens_are_refused(string token)
    {
        var store = Open();
        await store.CreateAsync("someone", ApiScope.Read);
        Assert.Null(store.Validate(token));
    }

    [Fact]
    public async Task A_guessed_secret_for_a_real_key_id_is_refused()
    {
        var store = Open();
        var created = await store.CreateAsync("someone", ApiScope.Read);
        Assert.Null(store.Validate($"pk_{created.Key.Id}_{new string('A', 43)}"));
        Assert.Null(store.Validate(created.Secret + "x"));
    }

    [Fact]
    public async Task Bad_names_and_scopes_are_refused_and_nothing_is_written()
    {
        var store = Open();
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => store.CreateAsync(" ", ApiScope.Read))).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => store.CreateAsync(new string('n', 101), ApiScope.Read))).Code);
        Assert.Equal(ComputeErrorCode.InvalidArgument, (await Assert.ThrowsAsync<ComputeException>(() => store.CreateAsync("x", (ApiScope)42))).Code);
        Assert.False(File.Exists(KeyFile));
        Assert.True(store.IsEmpty);
    }

    [Fact]
    public async Task Rotation_and_revocation_tell_connection_holders_and_end_the_old_stamp()
    {
        var store = Open();
        var created = await store.CreateAsync("dashboard", ApiScope.Read);
        var other = await store.CreateAsync("ci", ApiScope.Operate);
        var invalidated = new List<string>();
        store.KeyInvalidated += invalidated.Add;
        var stamp = ApiKeyStore.StampOf(created.Key);
        Assert.True(store.IsCurrent(created.Key.Id, stamp));

        var rotated = await store.RotateAsync(created.Key.Id);
        Assert.Equal([created.Key.Id], invalidated);
        Assert.False(store.IsCurrent(created.Key.Id, stamp));
        Assert.True(store.IsCurrent(created.Key.Id, ApiKeyStore.StampOf(rotated.Key)));
        Assert.True(store.IsCurrent(other.Key.Id, ApiKeyStore.StampOf(other.Key)));

        await store.RevokeAsync(created.Key.Id);
        Assert.Equal([created.Key.Id, created.Key.Id], invalidated);
        Assert.False(store.IsCurrent(created.Key.Id, ApiKeyStore.StampOf(rotated.Key)));
        Assert.False(store.IsCurrent("00000000", "0"));
    }

    [Fact]
    public async Task A_secret_file_is_0600_even_where_an_open_file_was_before()
    {
        var path = Path.Combine(_root, "agent", ApiKeyBootstrap.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await SecretFile.WriteAsync(path, "pk_12345678_secret\n");
        Assert.Equal(SecretFile.Mode, File.GetUnixFileMode(path));
        Assert.Equal("pk_12345678_secret\n", await File.ReadAllTextAsync(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));

        var fresh = Path.Combine(_root, "new-dir", "secret");
        await SecretFile.WriteAsync(fresh, "x");
        Assert.Equal(SecretFile.Mode, File.GetUnixFileMode(fresh));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(fresh)!));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
