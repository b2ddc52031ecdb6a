using System.Net;
using System.Net.Http.Json;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Tests.Shared;

namespace Portal.Agent.Tests;

/// <summary>Every HTTP path but health needs a key; scopes are enforced; rotation and revocation take effect at once.</summary>
[Trait("Requires", "root")]
public sealed class AuthTests : RunningAgent
{
    [RootFact]
    public async Task Health_is_open_everything_else_needs_a_key()
    {
        Assert.Equal(HttpStatusCode.OK, (await Agent.Tcp.GetAsync("healthz")).StatusCode);
        foreach (var path in new[] { "api/host", "api/containers", "api/compute-systems", "api/images", "api/keys", "openapi/v1.json" })
        {
            var response = await Agent.Tcp.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("Unauthorized", await response.Content.ReadAsStringAsync());
        }

        using var wrong = Agent.TcpWithKey("pk_00000000_not-a-real-secret-at-all-xyz");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("api/host")).StatusCode);
    }

    [RootFact]
    public async Task The_first_admin_key_works_and_scopes_are_enforced()
    {
        Assert.NotNull(Agent.AdminKey);
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var host = await admin.GetFromJsonAsync<HostInfo>("api/host", AgentProcess.Json);
        Assert.Contains(host!.ProcessRuntime.Name, new[] { "crun", "runc" });
        Assert.Contains("openapi", await admin.GetStringAsync("openapi/v1.json"));

        var reader = await CreateKeyAsync(admin, "dashboard", ApiScope.Read);
        using var read = Agent.TcpWithKey(reader.Secret);
        Assert.Equal(HttpStatusCode.OK, (await read.GetAsync("api/containers")).StatusCode);
        var denied = await read.PostAsJsonAsync("api/containers", new ContainerCreateSpec { Image = "busybox" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await read.GetAsync("api/keys")).StatusCode);

        var operatorKey = await CreateKeyAsync(admin, "ci", ApiScope.Operate);
        using var operate = Agent.TcpWithKey(operatorKey.Secret);
        var created = await operate.PostAsJsonAsync("api/containers", new ContainerCreateSpec { Name = "by-operator", Image = "busybox" }, AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await operate.GetAsync("api/keys")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await operate.DeleteAsync("api/containers/by-operator")).StatusCode);

        // Rotation: the old secret stops working, the new one works.
        var rotated = await (await admin.PostAsync($"api/keys/{reader.Key.Id}/rotate", null)).Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json);
        Assert.Equal(HttpStatusCode.Unauthorized, (await read.GetAsync("api/containers")).StatusCode);
        using var readAgain = Agent.TcpWithKey(rotated!.Secret);
        Assert.Equal(HttpStatusCode.OK, (await readAgain.GetAsync("api/containers")).StatusCode);

        // Revocation.
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"api/keys/{reader.Key.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await readAgain.GetAsync("api/containers")).StatusCode);

        // Keys are stored hashed, in a file only root can read.
        var file = Path.Combine(Sandbox.Options.StateRoot, "agent", "api-keys.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.DoesNotContain(rotated.Secret.Split('_')[2], await File.ReadAllTextAsync(file));
    }

    [RootFact]
    public async Task The_first_admin_key_is_handed_over_in_a_root_only_file_and_never_reaches_the_output()
    {
        Assert.NotNull(Agent.AdminKey);
        var secret = Agent.AdminKey!.Split('_', 3)[2];
        // Its stdout and stderr are what `deploy/portal up` appends to /var/log/portal/agent.log.
        // The log line that says where the key is may reach the test's reader a moment after the agent answers.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Agent.Output.Contains(Agent.AdminKeyFile, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains(Agent.AdminKeyFile, Agent.Output);
        Assert.DoesNotContain(secret, Agent.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Agent.AdminKeyFile));
        Assert.Equal(0, (int)(File.GetUnixFileMode(Path.GetDirectoryName(Agent.AdminKeyFile)!) & (UnixFileMode.OtherRead | UnixFileMode.OtherExecute | UnixFileMode.OtherWrite)));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(Agent.AdminKeyFile)!, ".*.tmp"));
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("api/keys")).StatusCode);

        // Once that key is rotated, the file with its dead secret goes.
        var id = Agent.AdminKey!.Split('_', 3)[1];
        var rotated = await (await admin.PostAsync($"api/keys/{id}/rotate", null)).Content.ReadFromJsonAsync<ApiKeyCreated>(AgentProcess.Json);
        Assert.NotNull(rotated);
        Assert.False(File.Exists(Agent.AdminKeyFile));
        Assert.DoesNotContain(rotated.Secret.Split('_', 3)[2], Agent.Output);
    }

    [RootFact]
    public async Task A_revoked_key_ends_its_requests_in_progress()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        var reader = await CreateKeyAsync(admin, "tail", ApiScope.Read);
        using var read = Agent.TcpWithKey(reader.Secret);
        await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "talker", Image = "busybox", Command = ["sh", "-c", "echo started; sleep 300"] });
        await Agent.PostAsync<ContainerInfo>("api/containers/talker/start");

        // A followed log: the headers arrive with the first line, so the request is in progress on the agent.
        using var follow = await read.GetAsync("api/containers/talker/logs?follow=true", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, follow.StatusCode);
        var body = await follow.Content.ReadAsStreamAsync();
        var buffer = new byte[4096];
        var text = "";
        while (!text.Contains("started", StringComparison.Ordinal))
        {
            var n = await body.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(n > 0, "the log ended before its first line");
            text += System.Text.Encoding.UTF8.GetString(buffer, 0, n);
        }

        (await admin.DeleteAsync($"api/keys/{reader.Key.Id}")).EnsureSuccessStatusCode();

        // The followed log ends (the agent aborts the request) instead of streaming on for a revoked key.
        var ended = async () =>
        {
            try
            {
                while (await body.ReadAsync(buffer) > 0)
                {
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
            }
        };
        await ended().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(HttpStatusCode.Unauthorized, (await read.GetAsync("api/containers")).StatusCode);
    }

    [RootFact]
    public async Task A_key_in_the_hubs_query_string_never_reaches_the_log_even_at_the_most_verbose_level()
    {
        var sandbox = new TestSandbox();
        try
        {
            await using var agent = new AgentProcess(sandbox);
            agent.Environment["Logging__LogLevel__Default"] = "Trace";
            agent.Environment["Logging__LogLevel__Microsoft.AspNetCore"] = "Trace";
            agent.Environment["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace";
            await agent.StartAsync();
            var secret = agent.AdminKey!.Split('_', 3)[2];
            using var negotiate = await agent.Tcp.PostAsync($"hubs/agent/negotiate?negotiateVersion=1&access_token={agent.AdminKey}", null);
            Assert.Equal(HttpStatusCode.OK, negotiate.StatusCode);
            using var marker = await agent.Tcp.GetAsync("healthz?after-the-hub=1"); // logged after the request above, when anything is

            // Trace logs other categories (routing, authentication): wait for their lines of the marker request.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!agent.Output.Contains("healthz", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.Contains("healthz", agent.Output);
            Assert.DoesNotContain(secret, agent.Output);
        }
        finally
        {
            sandbox.Clean();
        }
    }

    [RootFact]
    public async Task A_read_key_sees_host_processes_without_their_command_lines()
    {
        using var admin = Agent.TcpWithKey(Agent.AdminKey!);
        using var read = Agent.TcpWithKey((await CreateKeyAsync(admin, "viewer", ApiScope.Read)).Secret);
        using var operate = Agent.TcpWithKey((await CreateKeyAsync(admin, "ci", ApiScope.Operate)).Secret);

        // The agent itself is a host process: "dotnet .../Portal.Agent.dll".
        var asRead = (await read.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes", AgentProcess.Json))!.Single(p => p.Pid == Agent.Pid);
        Assert.Equal("", asRead.CommandLine);
        Assert.False(string.IsNullOrEmpty(asRead.Name));
        var asOperator = (await operate.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes", AgentProcess.Json))!.Single(p => p.Pid == Agent.Pid);
        Assert.Contains("Portal.Agent.dll", asOperator.CommandLine);
        Assert.Contains("Portal.Agent.dll", (await admin.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes", AgentProcess.Json))!.Single(p => p.Pid == Agent.Pid).CommandLine);

        // Nor can a Read key find it by its command line.
        Assert.DoesNotContain((await read.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes?match=Portal.Agent.dll", AgentProcess.Json))!, p => p.Pid == Agent.Pid);
        Assert.Contains((await operate.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes?match=Portal.Agent.dll", AgentProcess.Json))!, p => p.Pid == Agent.Pid);

        // Processes inside a container keep their command lines for Read: it may inspect containers anyway.
        await Agent.PostAsync<ContainerInfo>("api/containers", new ContainerCreateSpec { Name = "sleeper", Image = "busybox", Command = ["sleep", "300"] });
        await Agent.PostAsync<ContainerInfo>("api/containers/sleeper/start");
        var view = await read.GetFromJsonAsync<IsolationView>("api/containers/sleeper/isolation", AgentProcess.Json);
        Assert.Contains(view!.SeenFromHost, p => p.CommandLine == "sleep 300" && p.ContainerPid == 1);
        Assert.Contains((await read.GetFromJsonAsync<HostProcessInfo[]>("api/host/processes?match=sleep 300", AgentProcess.Json))!, p => p.ContainerId == view.Container.Id);
    }

    [RootFact]
    public async Task The_local_socket_is_authorized_by_its_ownership()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(Agent.SocketPath));
        Assert.Equal(HttpStatusCode.OK, (await Agent.Socket.GetAsync("api/keys")).StatusCode); // root on the socket is an admin
    }

    [RootFact]
    public async Task Bad_input_gets_a_clear_4xx()
    {
        var cases = new (string Body, string Expect)[]
        {
            ("{\"image\":", "could not be read"),
            ("{\"image\": 5}", "could not be read"),
            ("{\"image\":\"busybox\",\"name\":\"no spaces\"}", "Invalid container name"),
            ("{\"image\":\"nosuchimage\"}", "No image matches"),
            ("{\"image\":\"busybox\",\"runtimeType\":\"Bogus\"}", "could not be read"),
            ("{\"image\":\"busybox\",\"limits\":{\"memoryBytes\":5}}", "at least 6 MiB"),
            ("[]", "could not be read"),
        };
        foreach (var (body, expect) in cases)
        {
            var response = await Agent.Socket.PostAsync("api/containers", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{body} -> {(int)response.StatusCode} {text}");
            Assert.Contains(expect, text);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Agent.Socket.PostAsync("api/containers/nope/start", null)).StatusCode);
    }

    private static Task<ApiKeyCreated> CreateKeyAsync(HttpClient admin, string name, ApiScope scope) =>
        CreateKeyAsync(admin, new ApiKeyRequest(name, scope));
}
