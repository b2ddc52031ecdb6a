using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Portal.Docker.Tests.Integration;

/// <summary>
/// Bad input never breaks the engine: random and mutated create, exec and network bodies (wrong types, huge strings,
/// deep nesting, NULs, invalid names, unknown images, truncated JSON, security options plausible and not) and mutated
/// query strings and ids on every endpoint get a 4xx with a JSON message, never a 5xx, and the agent stays up. Each
/// test has a fixed seed and is bounded in cases and in time (<see cref="Budget"/>).
/// </summary>
[Trait("Requires", "root")]
public sealed class DockerFuzzTests(DockerAgentFixture fixture) : IClassFixture<DockerAgentFixture>
{
    /// <summary>Fixed, so a failure reproduces; PORTAL_FUZZ_SEED explores other inputs (the failure message names the input).</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("PORTAL_FUZZ_SEED"), out var seed) ? seed : 20240506;
    private const int Cases = 250;

    /// <summary>Each test stops generating cases after this long, so a loaded machine shortens it rather than timing out.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);

    private static readonly string[] SecurityKeys =
    [
        "HostConfig.CapAdd", "HostConfig.CapDrop", "HostConfig.ReadonlyRootfs", "HostConfig.SecurityOpt", "HostConfig.Ulimits",
        "HostConfig.Tmpfs", "HostConfig.Devices", "HostConfig.PidMode", "HostConfig.UsernsMode", "HostConfig.IpcMode",
        "HostConfig.Sysctls", "HostConfig.ShmSize", "HostConfig.MaskedPaths", "HostConfig.CgroupnsMode", "HostConfig.DeviceRequests",
    ];

    private DockerAgent Agent => fixture.Agent;

    [RootFact]
    public async Task Create_bodies_get_a_4xx_with_a_message_never_a_5xx()
    {
        var random = new Random(Seed);
        var failures = new List<string>();
        var created = new List<string>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var (name, body) in CreateCases(random).Take(Cases).TakeWhile(_ => watch.Elapsed < Budget))
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
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var body in ExecCases(random).Take(Cases).TakeWhile(_ => watch.Elapsed < Budget))
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

    /// <summary>Security options that pass create are started too: a bad combination (a tmpfs over a file, tiny limits) is a 4xx, never a 5xx.</summary>
    [RootFact]
    public async Task Containers_with_random_security_options_start_or_get_a_4xx_never_a_5xx()
    {
        var random = new Random(Seed + 4);
        var failures = new List<string>();
        string[] tmpfsPaths = ["/etc/hosts", "/bin/sh", "/etc/passwd", "/run", "/tmp/x/y", "/bin", "/etc", "/dev/shm", "/root", "/var/run"];
        var started = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 40 && watch.Elapsed < Budget; i++)
        {
            var host = new JsonObject { ["Isolation"] = "process" };
            for (var k = random.Next(1, 4); k > 0; k--)
            {
                var key = new[] { "CapAdd", "CapDrop", "ReadonlyRootfs", "SecurityOpt", "Ulimits", "Tmpfs" }[random.Next(6)];
                host[key] = key == "Tmpfs"
                    ? new JsonObject { [tmpfsPaths[random.Next(tmpfsPaths.Length)]] = new[] { "", "size=1k", "ro", "exec", "mode=000" }[random.Next(5)] }
                    : SecurityValue(random, key);
            }

            var body = new JsonObject { ["Image"] = "busybox", ["Cmd"] = new JsonArray("sh", "-c", "echo ok"), ["HostConfig"] = host };
            var name = $"fz-sec-{i}-{Guid.NewGuid().ToString("N")[..6]}";
            var (status, text) = await PostAsync($"v1.50/containers/create?name={name}", Encoding.UTF8.GetBytes(body.ToJsonString()));
            Check(status, text, body.ToJsonString(), failures);
            if (status != HttpStatusCode.Created)
            {
                continue;
            }

            using var start = await Agent.Http.PostAsync($"v1.50/containers/{name}/start", null);
            Check(start.StatusCode, await start.Content.ReadAsStringAsync(), "start of " + body.ToJsonString(), failures);
            started += start.IsSuccessStatusCode ? 1 : 0;
            await Agent.Http.DeleteAsync($"containers/{name}?force=1");
        }

        Assert.True(started > 0, "no container with security options started: the cases test nothing");
        Assert.False(Agent.HasExited, "the agent died:\n" + Agent.RecentLog);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [RootFact]
    public async Task Network_bodies_get_a_4xx_with_a_message_never_a_5xx()
    {
        var random = new Random(Seed + 2);
        var failures = new List<string>();
        string[] keys = ["Name", "Driver", "Internal", "EnableIPv6", "IPAM", "Options", "Attachable", "CheckDuplicate", "Labels"];
        // Only subnets no host route uses are ever well formed here: the fuzz must not give a bridge the host's own traffic.
        string[] subnets = ["10.231.7.0/24", "10.231.8.0/28", "10.231.9.0/33", "10.231.9.1/24", "garbage", "", "fd00::/64", "10.231.9.0/-1", "300.1.1.0/24", "10.231.10.0/24/24"];
        string[] drivers = ["bridge", "private", "", "overlay", "host", "null", "macvlan", "BRIDGE", "a\u0000b"];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 120 && watch.Elapsed < Budget; i++)
        {
            byte[] body;
            if (random.Next(6) == 0)
            {
                body = Garbage(random).First();
            }
            else
            {
                var network = new JsonObject
                {
                    ["Name"] = $"fz-net-{i}",
                    ["Driver"] = drivers[random.Next(drivers.Length)],
                    ["Internal"] = random.Next(2) == 0,
                    ["IPAM"] = new JsonObject { ["Config"] = new JsonArray(new JsonObject { ["Subnet"] = subnets[random.Next(subnets.Length)] }) },
                    ["Options"] = new JsonObject { ["io.portal.switch.type"] = new[] { "Nat", "Internal", "Private", "None", "x", "" }[random.Next(6)] },
                };
                body = Encoding.UTF8.GetBytes(MutateKeys(random, network, random.Next(3) == 0 ? keys : []).ToJsonString());
            }

            var (status, text) = await PostAsync("v1.50/networks/create", body);
            Check(status, text, Describe(body), failures);
            if (status == HttpStatusCode.Created)
            {
                var id = JsonDocument.Parse(text).RootElement.GetProperty("Id").GetString()!;
                using var removed = await Agent.Http.DeleteAsync($"networks/{id}");
                Check(removed.StatusCode, await removed.Content.ReadAsStringAsync(), "DELETE networks/" + id, failures);
            }
        }

        Assert.False(Agent.HasExited, "the agent died:\n" + Agent.RecentLog);
        Assert.Equal(HttpStatusCode.OK, (await Agent.Http.GetAsync("_ping")).StatusCode);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>
    /// Mutated query strings and ids on every endpoint with parameters. Destructive calls only ever name objects that
    /// cannot exist ("zz-" is never an id prefix) or a container made for them, so the fuzz removes nothing else.
    /// </summary>
    [RootFact]
    public async Task Query_strings_and_ids_get_a_4xx_with_a_message_never_a_5xx()
    {
        var running = "fz-q-run-" + Guid.NewGuid().ToString("N")[..8];
        var idle = "fz-q-idle-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var name in new[] { running, idle })
        {
            var (created, createdText) = await PostAsync($"containers/create?name={name}", Encoding.UTF8.GetBytes("{\"Image\":\"busybox\",\"Cmd\":[\"sleep\",\"300\"]}"));
            Assert.True(created == HttpStatusCode.Created, createdText);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await Agent.Http.PostAsync($"containers/{running}/start", null)).StatusCode);
        string[] values = ["", "0", "1", "-1", "true", "false", "abc", "1e999", "99999999999999999999", "%00", "%ZZ", "%E2%98%83", "SIGKILL", "SIGFAKE", "65", "not-running", "all", "%7B", new string('9', 5000)];
        string[] filters = ["{", "[]", "null", "{\"name\":[\"x\"]}", "{\"name\":\"x\"}", "{\"label\":{\"a\":true}}", "{\"status\":[\"bogus\"]}", "{\"isolation\":[1]}", "{\"name\":[null]}", "{\"dangling\":[\"true\"]}", "{\"a\":{\"b\":{\"c\":[]}}}"];
        string[] ids = ["zz-nosuch", "zz-%00", "zz-..%2F..", "zz-" + new string('x', 3000), "zz-☃", "zz-%2e%2e"];
        (HttpMethod Method, string Template)[] templates =
        [
            (HttpMethod.Get, "containers/json?all={v}&limit={v}&size={v}&filters={f}"),
            (HttpMethod.Get, "containers/{run}/logs?stdout=1&stderr={v}&tail={v}&since={v}&until={v}&timestamps={v}"),
            (HttpMethod.Get, "containers/{run}/top?ps_args={v}"),
            (HttpMethod.Get, "containers/{run}/stats?stream=0&one-shot={v}"),
            (HttpMethod.Get, "containers/{id}/json?size={v}"),
            (HttpMethod.Post, "containers/{idle}/kill?signal={v}"),
            (HttpMethod.Post, "containers/{idle}/stop?t={v}&signal={v}"),
            (HttpMethod.Post, "containers/{idle}/resize?h={v}&w={v}"),
            (HttpMethod.Post, "containers/{idle}/wait?condition=not-running&x={v}"),
            (HttpMethod.Post, "containers/{id}/start?detachKeys={v}"),
            (HttpMethod.Delete, "containers/{id}?force={v}&v={v}"),
            (HttpMethod.Get, "images/json?all={v}&filters={f}"),
            (HttpMethod.Get, "images/{id}/json"),
            (HttpMethod.Post, "images/{id}/tag?repo={v}&tag={v}"),
            (HttpMethod.Delete, "images/{id}?force={v}&noprune={v}"),
            (HttpMethod.Get, "networks?filters={f}"),
            (HttpMethod.Get, "networks/{id}?verbose={v}"),
            (HttpMethod.Delete, "networks/{id}"),
            (HttpMethod.Get, "exec/{id}/json"),
            (HttpMethod.Post, "exec/{id}/resize?h={v}&w={v}"),
            (HttpMethod.Post, "containers/{id}/exec"),
        ];
        var random = new Random(Seed + 3);
        var failures = new List<string>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 400 && watch.Elapsed < Budget; i++)
        {
            var (method, template) = templates[random.Next(templates.Length)];
            var path = "v1.50/" + Fill(template, "{v}", () => Escape(random, values[random.Next(values.Length)]));
            path = Fill(path, "{f}", () => Escape(random, filters[random.Next(filters.Length)]));
            path = path.Replace("{run}", running, StringComparison.Ordinal).Replace("{idle}", idle, StringComparison.Ordinal);
            path = Fill(path, "{id}", () => ids[random.Next(ids.Length)]);
            using var request = new HttpRequestMessage(method, path);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await Agent.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var text = (int)response.StatusCode >= 400 ? await response.Content.ReadAsStringAsync(timeout.Token) : "";
            if (text.Length == 0 && !response.Headers.Contains("Api-Version")
                && (response.StatusCode == HttpStatusCode.RequestUriTooLong || (response.StatusCode == HttpStatusCode.BadRequest && path.Contains("%00", StringComparison.Ordinal))))
            {
                // Kestrel itself refuses a NUL in the path or a request line over 8 KiB before any application code runs
                // (a bare 400 or 414; there is no hook for a body).
                continue;
            }

            Check(response.StatusCode, text, $"{method} {(path.Length > 200 ? path[..200] + "..." : path)}", failures);
        }

        foreach (var name in new[] { running, idle })
        {
            await Agent.Http.DeleteAsync($"containers/{name}?force=1");
        }

        Assert.False(Agent.HasExited, "the agent died:\n" + Agent.RecentLog);
        Assert.Equal(HttpStatusCode.OK, (await Agent.Http.GetAsync("_ping")).StatusCode);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    private static string Fill(string template, string hole, Func<string> value)
    {
        var result = new StringBuilder();
        var rest = template;
        for (var at = rest.IndexOf(hole, StringComparison.Ordinal); at >= 0; at = rest.IndexOf(hole, StringComparison.Ordinal))
        {
            result.Append(rest, 0, at).Append(value());
            rest = rest[(at + hole.Length)..];
        }

        return result.Append(rest).ToString();
    }

    /// <summary>Mostly escaped as a client would; sometimes raw, so malformed escapes reach the server.</summary>
    private static string Escape(Random random, string value) => random.Next(4) == 0 ? value : Uri.EscapeDataString(value);

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
            if (random.Next(2) == 0)
            {
                // Plausible security options (most well formed, some not), so the mapper's and the policy's checks are reached.
                var host = (JsonObject)body["HostConfig"]!;
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    var key = SecurityKeys[random.Next(SecurityKeys.Length)]["HostConfig.".Length..];
                    host[key] = SecurityValue(random, key);
                }
            }

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

    private static JsonNode? SecurityValue(Random random, string key)
    {
        string[] caps = ["ALL", "all", "NET_RAW", "CAP_NET_BIND_SERVICE", "SYS_ADMIN", "CAP_SYS_PTRACE", "net_admin", "CAP_FLY", "", " ", "CAP_"];
        string[] opts = ["no-new-privileges", "no-new-privileges:false", "no-new-privileges=maybe", "apparmor=portal-default", "apparmor=", "apparmor:unconfined", "seccomp=unconfined", "seccomp={}", "label=disable", "systempaths=unconfined", "x", "", "=", ":"];
        string[] tmpfsOptions = ["", "size=1m", "size=lots", "size=-1", "size=99999999999p", "mode=1777", "mode=9", "mode=", "exec,nosuid", "uid=0", "ro", "size=1.5k,mode=700", ",,,"];
        string[] paths = ["/run", "/tmp", "/", "/proc", "/sys/x", "/dev", "/dev/shm", "relative", "/a/../b", "/a:b", "//run//", "/" + new string('p', 5000)];
        string[] modes = ["", "host", "private", "shareable", "container:x", "none", "☃"];
        var weird = random.Next(5) == 0;
        return key switch
        {
            "CapAdd" or "CapDrop" => new JsonArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => (JsonNode?)(weird ? RandomValue(random, 1) : caps[random.Next(caps.Length)])).ToArray()),
            "ReadonlyRootfs" => weird ? RandomValue(random, 1) : random.Next(2) == 0,
            "SecurityOpt" => new JsonArray(Enumerable.Range(0, random.Next(0, 3)).Select(_ => (JsonNode?)(weird ? RandomValue(random, 1) : opts[random.Next(opts.Length)])).ToArray()),
            "Ulimits" => new JsonArray(Enumerable.Range(0, random.Next(0, 3)).Select(_ => (JsonNode?)new JsonObject
            {
                ["Name"] = weird ? RandomValue(random, 1) : new[] { "nofile", "nproc", "rtprio", "core", "bogus", "NOFILE", "" }[random.Next(7)],
                ["Soft"] = new long[] { 0, 1, 1024, -1, -2, long.MaxValue, long.MinValue }[random.Next(7)],
                ["Hard"] = new long[] { 0, 2048, -1, 1 << 30, long.MaxValue }[random.Next(5)],
            }).ToArray()),
            "Tmpfs" => weird ? RandomValue(random, 1) : new JsonObject(Enumerable.Range(0, random.Next(0, 3)).Select(i => paths[random.Next(paths.Length)] + (i == 0 ? "" : "/" + i)).Distinct().Select(p => KeyValuePair.Create(p, (JsonNode?)tmpfsOptions[random.Next(tmpfsOptions.Length)]))),
            "PidMode" or "UsernsMode" or "IpcMode" or "CgroupnsMode" => weird ? RandomValue(random, 1) : modes[random.Next(modes.Length)],
            "Devices" or "DeviceRequests" => weird ? RandomValue(random, 1) : random.Next(2) == 0 ? new JsonArray() : new JsonArray(new JsonObject { ["PathOnHost"] = "/dev/loop0" }),
            "Sysctls" => weird ? RandomValue(random, 1) : random.Next(2) == 0 ? new JsonObject() : new JsonObject { ["net.ipv4.ip_forward"] = "1" },
            "ShmSize" => new long[] { 0, 64L << 20, 1, -1, long.MaxValue }[random.Next(5)],
            _ => weird ? RandomValue(random, 1) : random.Next(2) == 0 ? null : new JsonArray(),
        };
    }

    /// <summary>One to three mutations: a field gets a value of a random kind, goes away, or a new field appears.</summary>
    private static JsonObject Mutate(Random random, JsonObject body) => MutateKeys(random, body,
        ["HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.PidsLimit", "HostConfig.Isolation", "HostConfig.AutoRemove", "HostConfig.Binds", "Entrypoint", "User", "WorkingDir", "Tty", "OpenStdin", "Privileged", "Detach", .. SecurityKeys]);

    private static JsonObject MutateKeys(Random random, JsonObject body, IReadOnlyList<string> extraKeys)
    {
        var keys = body.Select(p => p.Key).Concat(extraKeys).ToList();
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
