using Portal.Guest.Containers;

namespace Portal.Guest.Tests;

public sealed class UserResolverTests
{
    private const string Passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:App:/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n";
    private const string Group = "root:x:0:\nwheel:x:10:app,web\napp:x:1000:\nwww-data:x:33:\naudio:x:29: app \n";

    [Theory]
    [InlineData(null, 0u, 0u, "root", "/root", "")]
    [InlineData("", 0u, 0u, "root", "/root", "")]
    [InlineData("root", 0u, 0u, "root", "/root", "")]
    [InlineData("app", 1000u, 1000u, "app", "/home/app", "10,29")]
    [InlineData("1000", 1000u, 1000u, "app", "/home/app", "10,29")]
    [InlineData("app:www-data", 1000u, 33u, "app", "/home/app", "")]
    [InlineData("app:0", 1000u, 0u, "app", "/home/app", "")]
    [InlineData("4242", 4242u, 0u, "4242", "/", "")]
    [InlineData("4242:4343", 4242u, 4343u, "4242", "/", "")]
    [InlineData("web", 33u, 33u, "web", "/var/www", "10")]
    public void Resolves_like_docker(string? spec, uint uid, uint gid, string name, string home, string groups)
    {
        var user = UserResolver.Resolve(spec, Passwd, Group);
        Assert.Equal((uid, gid, name, home), (user.Uid, user.Gid, user.Name, user.Home));
        Assert.Equal(groups, string.Join(',', user.Groups));
    }

    [Theory]
    [InlineData("nobody", "unable to find user nobody")]
    [InlineData("app:nogroup", "unable to find group nogroup")]
    public void Unknown_names_fail_with_a_clear_message(string spec, string message)
    {
        var e = Assert.Throws<GuestException>(() => UserResolver.Resolve(spec, Passwd, Group));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Works_without_passwd_and_group_files()
    {
        Assert.True(UserResolver.Resolve("0", "", "").IsPlainRoot);
        Assert.Equal(7u, UserResolver.Resolve("7:8", "", "").Uid);
        Assert.Throws<GuestException>(() => UserResolver.Resolve("root", "", ""));
    }
}
