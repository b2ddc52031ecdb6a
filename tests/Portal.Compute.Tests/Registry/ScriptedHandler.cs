namespace Portal.Compute.Tests.Registry;

/// <summary>Answers each request with the script's response and remembers what was asked.</summary>
internal sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> script) : HttpMessageHandler
{
    public List<Uri> Requests { get; } = [];

    public List<string?> Ranges { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Requests)
        {
            Requests.Add(request.RequestUri!);
            Ranges.Add(request.Headers.Range?.ToString());
        }

        var response = script(request);
        response.RequestMessage = request;
        return Task.FromResult(response);
    }
}
