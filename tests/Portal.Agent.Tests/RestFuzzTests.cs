using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Portal.Contracts;

namespace Portal.Agent.Tests;

/// <summary>Mutated create and exec bodies on the REST API: every answer is a clear 4xx (or a success), never a 500, and the agent stays up.</summary>
[Trait("Requires", "root")]
public sealed class RestFuzzTests : RunningAgent
{
    private static readonly string[] Keys = ["image", "name", "runtimeType", "command", "entrypoint", "environment", "workingDirectory", "user", "tty", "openStdin", "limits", "labels", "memoryBytes", "cpus", "pidsLimit"];

    [RootFact]
    public async Task Mutated_create_and_exec_bodies_never_crash_the_agent()
    {
        var random = new Random(20261129);
        var target = await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "fuzz-target", Image = "busybox", Command = ["sleep", "300"] });
        await Agent.PostAsync<ContainerInfo>("api/containers/fuzz-target/start");
        var seeds = new[]
        {
            """{"image":"busybox","name":"fz","command":["true"],"limits":{"memoryBytes":67108864,"cpus":0.5,"pidsLimit":10},"environment":["A=1"],"labels":{"a":"b"}}""",
            """{"command":["echo","hi"],"environment":["X=1"],"workingDirectory":"/","user":"root"}""",
        };

        for (var i = 0; i < 300; i++)
        {
            var exec = i % 2 == 1;
            var body = Mutate(JsonNode.Parse(seeds[i % 2])!, random);
            var response = await Agent.Socket.PostAsync(exec ? "api/containers/fuzz-target/exec" : "api/containers", new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            Assert.True(status is >= 200 and < 500, $"{body} -> {status} {text}");
            if (status >= 400)
            {
                Assert.Contains("\"detail\"", text); // a problem document that says what was wrong
            }
            else if (!exec)
            {
                var id = JsonNode.Parse(text)!["id"]!.GetValue<string>();
                await Agent.Socket.DeleteAsync($"api/containers/{id}?force=true");
            }
        }

        Assert.Equal(HttpStatusCode.OK, (await Agent.Tcp.GetAsync("healthz")).StatusCode);
        Assert.Equal(ContainerState.Running, (await Agent.GetAsync<Portal.Contracts.Hub.ContainerView>($"api/containers/{target.Id}")).Container.State);
    }

    private static string Mutate(JsonNode seed, Random random)
    {
        switch (random.Next(8))
        {
            case 0:
                var text = seed.ToJsonString();
                return text[..random.Next(text.Length)]; // truncated
            case 1:
                return new string('[', random.Next(1, 3000)); // deep nesting
            case 2:
                seed[Keys[random.Next(Keys.Length)]] = new string('x', random.Next(1, 2_000_000)); // huge string, maybe the wrong type
                return seed.ToJsonString();
            case 3:
                seed[Keys[random.Next(Keys.Length)]] = random.Next(3) switch { 0 => JsonValue.Create(-1), 1 => JsonValue.Create(true), _ => new JsonArray(1, 2) };
                return seed.ToJsonString();
            case 4:
                seed["name"] = new string((char)random.Next(1, 0x2FF), random.Next(1, 200)); // odd names
                return seed.ToJsonString();
            case 5:
                seed["image"] = "no-such-image-" + random.Next();
                return seed.ToJsonString();
            case 6:
                var bytes = new byte[random.Next(1, 500)];
                random.NextBytes(bytes);
                return Encoding.Latin1.GetString(bytes); // garbage
            default:
                seed.AsObject().Remove(Keys[random.Next(Keys.Length)]);
                return seed.ToJsonString();
        }
    }
}
