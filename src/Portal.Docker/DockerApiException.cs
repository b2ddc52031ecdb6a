namespace Portal.Docker;

/// <summary>A docker-API-specific failure with the status dockerd would answer (400 bad parameter, 304 not modified, 501 unsupported, ...).</summary>
public sealed class DockerApiException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public static DockerApiException BadParameter(string message) => new(StatusCodes.Status400BadRequest, message);

    public static DockerApiException NotSupported(string what) =>
        new(StatusCodes.Status501NotImplemented, $"{what} is not supported by this engine; see docs/docker-compatibility.md for what is.");
}
