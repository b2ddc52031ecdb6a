using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Portal.Contracts;

namespace Portal.Agent.Tests;

/// <summary>REST image import and removal (the portal's Images page): a docker save archive in, its tag out; in-use and bad input refused clearly.</summary>
[Trait("Requires", "root")]
public sealed class ImageEndpointTests : RunningAgent
{
    [RootFact]
    public async Task Imports_an_archive_refuses_removing_an_image_in_use_then_removes_it()
    {
        var archive = new ByteArrayContent(DockerSaveArchive.Build("portal-test/hello:1"));
        archive.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        var imported = await Agent.Socket.PostAsync("api/images", archive);
        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        var image = Assert.Single((await imported.Content.ReadFromJsonAsync<ImageInfo[]>(AgentProcess.Json))!);
        Assert.Contains("portal-test/hello:1", image.Tags);
        Assert.Contains(await Agent.GetAsync<ImageInfo[]>("api/images"), i => i.Id == image.Id);

        var retagged = new ByteArrayContent(DockerSaveArchive.Build("portal-test/hello:1"));
        Assert.Equal(HttpStatusCode.Created, (await Agent.Socket.PostAsync("api/images?tag=portal-test/hello:2", retagged)).StatusCode);

        await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "uses-hello", Image = "portal-test/hello:1" });
        var inUse = await Agent.Socket.DeleteAsync($"api/images/{image.Id}");
        Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);
        var problem = await inUse.Content.ReadAsStringAsync();
        Assert.Contains("ImageInUse", problem);
        Assert.Contains("'uses-hello'", problem);

        // One of two tags only untags, even while a container uses the image; the slash in the name is routed.
        Assert.Equal(HttpStatusCode.NoContent, (await Agent.Socket.DeleteAsync("api/images/portal-test/hello:2")).StatusCode);
        Assert.DoesNotContain("portal-test/hello:2", (await Agent.GetAsync<ImageInfo[]>("api/images")).Single(i => i.Id == image.Id).Tags);

        Assert.Equal(HttpStatusCode.NoContent, (await Agent.Socket.DeleteAsync("api/containers/uses-hello")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Agent.Socket.DeleteAsync($"api/images/{image.Id}")).StatusCode);
        Assert.DoesNotContain(await Agent.GetAsync<ImageInfo[]>("api/images"), i => i.Id == image.Id);
        var gone = await Agent.Socket.DeleteAsync($"api/images/{image.Id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Contains("ImageNotFound", await gone.Content.ReadAsStringAsync());
    }

    [RootFact]
    public async Task A_bad_archive_and_a_read_key_are_refused_with_what_to_do()
    {
        var garbage = await Agent.Socket.PostAsync("api/images", new ByteArrayContent(Encoding.UTF8.GetBytes("this is not a tar archive")));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Contains("\"detail\"", await garbage.Content.ReadAsStringAsync());

        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var reader = await (await admin.PostAsJsonAsync("api/keys", new Portal.Contracts.Hub.ApiKeyRequest("viewer", Portal.Contracts.Hub.ApiScope.Read), AgentProcess.Json))
            .Content.ReadFromJsonAsync<Portal.Contracts.Hub.ApiKeyCreated>(AgentProcess.Json);
        using var read = Agent.TcpWithKey(reader!.Secret);
        Assert.Equal(HttpStatusCode.OK, (await read.GetAsync("api/images")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await read.PostAsync("api/images", new ByteArrayContent(DockerSaveArchive.Build("portal-test/denied:1")))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await read.DeleteAsync("api/images/busybox:latest")).StatusCode);
    }
}
