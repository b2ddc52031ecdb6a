using System.Management.Automation;
using static Portal.PowerShell.Tests.ScriptAssert;

namespace Portal.PowerShell.Tests;

/// <summary>
/// Install-ContainerImage against the real agent, from a real registry that wants a login (Distribution with htpasswd):
/// a progress record per layer under the image's, the image emitted, and a wrong password an AuthenticationError.
/// </summary>
[Collection(AgentCollection.Name)]
[Trait("Requires", "root")]
public sealed class ImageInstallTests(AgentFixture fixture)
{
    [RootFact]
    public async Task Install_ContainerImage_pulls_with_a_credential_and_shows_progress_per_layer()
    {
        await using var registry = await RegistryServer.StartAsync(RegistryAuth.Htpasswd);
        var layout = Path.Combine(fixture.Sandbox.PrivateRoot, "ps-layout");
        var id = TestImages.WriteBusyboxLayout(layout, "installed from PowerShell\n");
        await registry.PushAsync(layout, "team/ps:1");
        var reference = $"{registry.Address}/team/ps:1";
        using var ps = new PowerShellSession(fixture.Agent);

        var wrong = ps.Run($"Install-ContainerImage -Name {reference} -Credential ([pscredential]::new('{RegistryServer.User}', (ConvertTo-SecureString 'not-the-password' -AsPlainText -Force)))");
        AssertError(wrong, "RegistryAuthenticationFailed", ErrorCategory.AuthenticationError, $"'{RegistryServer.User}'");

        var result = ps.Run($"Install-ContainerImage -Name {reference} -Credential ([pscredential]::new('{RegistryServer.User}', (ConvertTo-SecureString '{RegistryServer.Password}' -AsPlainText -Force)))");
        Assert.Empty(result.Errors);
        var image = Assert.Single(result.Output);
        Assert.Equal(id, image.Properties["Id"].Value);
        Assert.Equal([reference], (IEnumerable<string>)image.Properties["Tags"].Value);
        Assert.StartsWith($"{registry.Address}/team/ps@sha256:", Assert.Single((IEnumerable<string>)image.Properties["RepoDigests"].Value), StringComparison.Ordinal);
        var progress = result.Progress!;
        Assert.Contains(progress, p => p.ActivityId == 1 && p.StatusDescription.StartsWith("Status: Downloaded newer image", StringComparison.Ordinal));
        Assert.Contains(progress, p => p.ParentActivityId == 1 && p.Activity.StartsWith("Layer ", StringComparison.Ordinal) && p.PercentComplete == 100);
        Assert.Contains(progress, p => p.ParentActivityId == 1 && p.StatusDescription == "Download complete");
        Assert.Contains(progress, p => p.ActivityId == 1 && p.RecordType == ProgressRecordType.Completed);

        // The image serves New-Container at once.
        ps.Ok($"New-Container -Name PSPULLED -ContainerImageName {reference} -RuntimeType Default");
        await fixture.Agent.RemoveAllContainersAsync();
        (await fixture.Agent.Socket.DeleteAsync($"api/images/{reference}")).EnsureSuccessStatusCode();
    }
}
