using System.Text.Json;
using Portal.Compute;

namespace Portal.Docker;

/// <summary>
/// The docker error model, mapped once: every failure becomes dockerd's {"message": "..."} with the status the docker
/// CLI and SDKs understand (404 makes `docker run` pull, 409 is a conflict, 400 a bad parameter). Bugs are 500s whose
/// message hides internals.
/// </summary>
internal static class DockerErrors
{
    private const int MaxMessageChars = 4096;

    /// <remarks>NotSupported is a 400: on this engine it means a parameter this host cannot honour (an isolation it lacks), as dockerd's "invalid isolation".</remarks>
    public static int StatusOf(ComputeErrorCode code) => code switch
    {
        ComputeErrorCode.InvalidArgument or ComputeErrorCode.ImageRejected or ComputeErrorCode.NotSupported => StatusCodes.Status400BadRequest,
        // A registry's refusal of a pull is a 403, not a 401: on a 401 the docker CLI would prompt for a login and retry.
        ComputeErrorCode.Forbidden or ComputeErrorCode.QuotaExceeded or ComputeErrorCode.RegistryAuthenticationFailed => StatusCodes.Status403Forbidden,
        ComputeErrorCode.ContainerNotFound or ComputeErrorCode.ImageNotFound or ComputeErrorCode.SwitchNotFound or ComputeErrorCode.TeamNotFound => StatusCodes.Status404NotFound,
        ComputeErrorCode.NameInUse or ComputeErrorCode.InvalidTransition or ComputeErrorCode.ImageInUse
            or ComputeErrorCode.SwitchInUse or ComputeErrorCode.SubnetOverlap or ComputeErrorCode.PortInUse => StatusCodes.Status409Conflict,
        ComputeErrorCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static async Task WriteAsync(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        http.Response.ContentLength = null;
        if (status == StatusCodes.Status304NotModified || HttpMethods.IsHead(http.Request.Method))
        {
            return;
        }

        http.Response.ContentType = "application/json";
        var text = message.Length > MaxMessageChars ? message[..MaxMessageChars] + "..." : message;
        var bytes = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new DockerErrorResponse(text)) + "\n");
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The error middleware of the docker listener.</summary>
    public static async Task HandleAsync(HttpContext http, RequestDelegate next)
    {
        int status;
        string message;
        try
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return; // the client went away (docker logs -f ended with ^C)
        }
        catch (DockerApiException e)
        {
            (status, message) = (e.StatusCode, e.Message);
        }
        catch (ComputeException e)
        {
            (status, message) = (StatusOf(e.Code), e.Message);
        }
        catch (JsonException e)
        {
            (status, message) = (StatusCodes.Status400BadRequest, DescribeJsonError(e));
        }
        catch (BadHttpRequestException e)
        {
            (status, message) = (e.StatusCode, $"The request could not be read: {e.Message}");
        }
        catch (IOException) when (http.RequestAborted.IsCancellationRequested || http.Response.HasStarted)
        {
            return; // the connection broke while streaming
        }
        catch (Exception e)
        {
            http.RequestServices.GetRequiredService<ILogger<DockerApiServer>>().LogError(e, "Docker API request {Method} {Path} failed", http.Request.Method, http.Request.Path);
            (status, message) = (StatusCodes.Status500InternalServerError, "The engine failed unexpectedly; the agent's log has the details.");
        }

        if (status == StatusCodes.Status500InternalServerError)
        {
            http.RequestServices.GetRequiredService<ILogger<DockerApiServer>>().LogWarning("Docker API request {Method} {Path}: {Message}", http.Request.Method, http.Request.Path, message);
        }

        if (http.Response.HasStarted)
        {
            return; // a stream was already flowing: dockerd also just ends it
        }

        await WriteAsync(http, status, message).ConfigureAwait(false);
    }

    /// <summary>What was wrong with a body, in the caller's terms (no .NET type names).</summary>
    public static string DescribeJsonError(JsonException e)
    {
        var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {e.Path}";
        var position = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
        var what = e.Message.Contains("maximum configured depth", StringComparison.Ordinal)
            ? "it is nested too deeply"
            : e.Message.Contains("could not be converted", StringComparison.Ordinal)
                ? "a value has the wrong type"
                : "it is not valid JSON";
        return $"invalid request body{where}{position}: {what}";
    }
}

internal sealed record DockerErrorResponse(string Message)
{
    [System.Text.Json.Serialization.JsonPropertyName("message")]
    public string Message { get; init; } = Message;
}
