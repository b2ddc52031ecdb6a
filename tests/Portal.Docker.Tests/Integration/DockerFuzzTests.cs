using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// Bad input never breaks the engine: random and mutated create and exec bodies (wrong types, huge strings, deep
/// nesting, NULs, invalid names, unknown images, truncated JSON) get a 4xx with a JSON message, never a 5xx, and the
/// agent stays up.
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerFuzzTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    private const int Seed = 20240506;
    private const int Cases = 250;

    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task Create_bodies_get_a_4xx_with_a_message_never_a_5xx()
    {
        var random = new Random(Seed);
        var failures = new List<string>();
        var created = new List<string>();
        foreach (var (name, body) in CreateCases(random).Take(Cases))
        {
            var query = name is null ? "" : "?name=" + Uri.EscapeDataString(name);
            var (status, text) = await PostAsync($"v1.50/containers/create{query}", body);
            if (status == HttpStatusCode.Created)
            {
                created.Add(JsonDocument.Parse(text).RootElement.GetProperty("Id").GetString()!);
            }

            Check(status, text, Describe(body), failures);
        }

        foreach (var id in created)
        {
            await Agent.Http.DeleteAsync($"containers/{id}?force=1");
        }

        Assert.False(Agent.HasExited, "the agent died:\n" + Agent.RecentLog);
        Assert.Equal(HttpStatusCode.OK, (await Agent.Http.GetAsync("_ping")).StatusCode);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [RootFact]
    public async Task Exec_bodies_get_a_4xx_with_a_message_never_a_5xx()
    {
        var name = "fuzz-exec-" + Guid.NewGuid().ToString("N")[..8];
        var (status, text) = await PostAsync($"containers/create?name={name}", Encoding.UTF8.GetBytes("{\"Image\":\"busybox\",\"Cmd\":[\"sleep\",\"300\"]}"));
        Assert.True(status == HttpStatusCode.Created, text);
        Assert.Equal(HttpStatusCode.NoContent, (await Agent.Http.PostAsync($"containers/{name}/start", null)).StatusCode);

        var random = new Random(Seed + 1);
        var failures = new List<string>();
        var execs = new List<string>();
        foreach (var body in ExecCases(random).Take(Cases))
        {
            var (execStatus, execText) = await PostAsync($"v1.50/containers/{name}/exec", body);
            Check(execStatus, execText, Describe(body), failures);
            if (execStatus == HttpStatusCode.Created)
            {
                execs.Add(JsonDocument.Parse(execText).RootElement.GetProperty("Id").GetString()!);
            }
        }

        // Start bodies, mutated, on exec instances that exist (detached, so nothing waits on a stream).
        foreach (var id in execs.Take(40))
        {
            var body = Mutate(random, new JsonObject { ["Detach"] = true, ["Tty"] = false });
            var (startStatus, startText) = await PostAsync($"v1.50/exec/{id}/start", Encoding.UTF8.GetBytes(body.ToJsonString()));
            Check(startStatus, startText, body.ToJsonString(), failures);
        }

        foreach (var garbage in Garbage(random).Take(30))
        {
            var (startStatus, startText) = await PostAsync($"v1.50/exec/{(execs.Count > 0 ? execs[^1] : "none")}/start", garbage);
            Check(startStatus, startText, Describe(garbage), failures);
        }

        var (unknownStatus, unknownText) = await PostAsync("v1.50/exec/0123456789abcdef/start", Encoding.UTF8.GetBytes("{\"Detach\":true}"));
        Assert.Equal(HttpStatusCode.NotFound, unknownStatus);
        Assert.Contains("message", unknownText);

        await Agent.Http.DeleteAsync($"containers/{name}?force=1");
        Assert.False(Agent.HasExited, "the agent died:\n" + Agent.RecentLog);
        Assert.Equal(HttpStatusCode.OK, (await Agent.Http.GetAsync("_ping")).StatusCode);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    private static void Check(HttpStatusCode status, string text, string input, List<string> failures)
    {
        var code = (int)status;
        if (code >= 500)
        {
            failures.Add($"{code} for {input}: {text}");
            return;
        }

        if (code >= 400)
        {
            try
            {
                var message = JsonDocument.Parse(text).RootElement.GetProperty("message").GetString();
                if (string.IsNullOrWhiteSpace(message))
                {
                    failures.Add($"{code} with an empty message for {input}");
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                failures.Add($"{code} without a JSON message for {input}: {text}");
            }
        }
    }

    private async Task<(HttpStatusCode Status, string Text)> PostAsync(string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await Agent.Http.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Describe(byte[] body) => body.Length > 200 ? Encoding.UTF8.GetString(body, 0, 200) + $"... ({body.Length} bytes)" : Encoding.UTF8.GetString(body);

    private static IEnumerable<(string? Name, byte[] Body)> CreateCases(Random random)
    {
        string?[] names = [null, "", "/", "-dash", "a b", "ü", new string('n', 300), "ok_name.1", "x\u0000y", "../etc", "a/b", "%00"];
        while (true)
        {
            var body = new JsonObject
            {
                ["Image"] = random.Next(4) == 0 ? "no-such-image:" + random.Next(1000) : "busybox",
                ["Cmd"] = new JsonArray("true"),
                ["Env"] = new JsonArray("A=1"),
                ["Labels"] = new JsonObject { ["k"] = "v" },
                ["HostConfig"] = new JsonObject { ["Memory"] = 0, ["Isolation"] = "process" },
            };
            var name = names[random.Next(names.Length)];
            if (random.Next(5) == 0)
            {
                yield return (name, Garbage(random).First());
                continue;
            }

            yield return (name, Encoding.UTF8.GetBytes(Mutate(random, body).ToJsonString()));
        }
    }

    private static IEnumerable<byte[]> ExecCases(Random random)
    {
        while (true)
        {
            if (random.Next(5) == 0)
            {
                yield return Garbage(random).First();
                continue;
            }

            var body = new JsonObject
            {
                ["Cmd"] = new JsonArray("true"),
                ["AttachStdout"] = true,
                ["AttachStderr"] = true,
                ["Tty"] = false,
                ["Env"] = new JsonArray("A=1"),
                ["WorkingDir"] = "/",
                ["ConsoleSize"] = new JsonArray(24, 80),
            };
            yield return Encoding.UTF8.GetBytes(Mutate(random, body).ToJsonString());
        }
    }

    /// <summary>One to three mutations: a field gets a value of a random kind, goes away, or a new field appears.</summary>
    private static JsonObject Mutate(Random random, JsonObject body)
    {
        var keys = body.Select(p => p.Key).Concat(["HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.PidsLimit", "HostConfig.Isolation", "HostConfig.AutoRemove", "HostConfig.Binds", "Entrypoint", "User", "WorkingDir", "Tty", "OpenStdin", "Privileged", "Detach"]).ToList();
        for (var i = random.Next(1, 4); i > 0; i--)
        {
            var key = keys[random.Next(keys.Count)];
            var target = body;
            if (key.StartsWith("HostConfig.", StringComparison.Ordinal))
            {
                target = body["HostConfig"] as JsonObject ?? new JsonObject();
                body["HostConfig"] = target;
                key = key["HostConfig.".Length..];
            }

            if (random.Next(6) == 0)
            {
                target.Remove(key);
            }
            else
            {
                target[key] = RandomValue(random, 0);
            }
        }

        return body;
    }

    private static JsonNode? RandomValue(Random random, int depth) => random.Next(depth > 3 ? 9 : 12) switch
    {
        0 => null,
        1 => random.Next(2) == 0,
        2 => random.NextInt64(long.MinValue, long.MaxValue),
        3 => random.NextDouble() * 1e300,
        4 => -random.Next(1000),
        5 => new string('x', random.Next(2) == 0 ? 70_000 : 1_000_000),
        6 => "a\u0000b",
        7 => new[] { "process", "hyperv", "default", "", "HYPERV", "sandbox", "/bin/sh", "☃", "-1" }[random.Next(9)],
        8 => random.Next(2) == 0 ? "relative/dir" : "1e999",
        9 => new JsonArray(RandomValue(random, depth + 1), RandomValue(random, depth + 1)),
        10 => new JsonObject { ["k" + random.Next(10)] = RandomValue(random, depth + 1) },
        _ => new JsonArray(null, 1, "x"),
    };

    private static IEnumerable<byte[]> Garbage(Random random)
    {
        while (true)
        {
            yield return random.Next(10) switch
            {
                0 => [],
                1 => "null"u8.ToArray(),
                2 => "[1,2,3]"u8.ToArray(),
                3 => "{\"Image\":"u8.ToArray(),
                4 => Encoding.UTF8.GetBytes(new string('[', 5000) + new string(']', 5000)),
                5 => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", 200)) + "1" + new string('}', 200)),
                6 => RandomBytes(random),
                7 => "\"just a string\""u8.ToArray(),
                8 => "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],}"u8.ToArray(),
                _ => Encoding.UTF8.GetBytes("{\"Image\":\"" + new string('b', 3_000_000) + "\"}"),
            };
        }
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(1, 512)];
        random.NextBytes(bytes);
        return bytes;
    }
}
