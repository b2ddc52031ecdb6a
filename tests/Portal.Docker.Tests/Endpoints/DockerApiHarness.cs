using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Portal.Tests.Shared.Compute;

namespace Portal.Docker.Tests.Endpoints;

/// <summary>
/// The docker API's real web application (Kestrel, the upgrade-body rewriter, routes, the readiness filter, the error
/// mapping) on a temporary unix socket, over a <see cref="FakeComputeHost"/>: no root, no processes. The compute host
/// is ready when <see cref="MarkReady"/> is called (or at once with <c>ready: true</c>). Disposing stops the
/// application and removes the socket's directory.
/// </summary>
public sealed class DockerApiHarness : IAsyncDisposable
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DirectoryInfo _directory;
    private readonly WebApplication _app;

    private DockerApiHarness(FakeComputeHost host)
    {
        Host = host;
        _directory = Directory.CreateTempSubdirectory("portal-docker-api-");
        SocketPath = Path.Combine(_directory.FullName, "docker.sock");
        _app = DockerApiApp.Build(SocketPath, new DockerCompute(host, _ready.Task), NullLoggerFactory.Instance);
        Http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://docker/"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public FakeComputeHost Host { get; }

    public string SocketPath { get; }

    public HttpClient Http { get; }

    public static async Task<DockerApiHarness> StartAsync(bool ready = true, FakeComputeHost? host = null)
    {
        var harness = new DockerApiHarness(host ?? new FakeComputeHost());
        try
        {
            await harness._app.StartAsync();
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }

        if (ready)
        {
            harness.MarkReady();
        }

        return harness;
    }

    public void MarkReady() => _ready.TrySetResult();

    public void FailStart() => _ready.TrySetException(new InvalidOperationException("the runtime probe failed"));

    public async Task<(int Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return ((int)response.StatusCode, await BodyAsync(response));
    }

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, string? json = null)
    {
        using var content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync(path, content);
        return ((int)response.StatusCode, await BodyAsync(response));
    }

    public async Task<(int Status, JsonElement Body)> DeleteAsync(string path)
    {
        using var response = await Http.DeleteAsync(path);
        return ((int)response.StatusCode, await BodyAsync(response));
    }

    /// <summary>The docker error format: {"message": "..."} and nothing else.</summary>
    public static string Message(JsonElement body)
    {
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        Assert.Single(body.EnumerateObject());
        return body.GetProperty("message").GetString()!;
    }

    private static async Task<JsonElement> BodyAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _directory.Delete(recursive: true);
    }
}
