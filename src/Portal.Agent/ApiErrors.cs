using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Portal.Compute;

namespace Portal.Agent;

/// <summary>The one error model: problem details carrying a stable code, mapped once from ComputeException.</summary>
public static class ApiErrors
{
    public static int StatusOf(ComputeErrorCode code) => code switch
    {
        ComputeErrorCode.InvalidArgument or ComputeErrorCode.ImageRejected => StatusCodes.Status400BadRequest,
        ComputeErrorCode.Forbidden or ComputeErrorCode.QuotaExceeded or ComputeErrorCode.RegistryAuthenticationFailed => StatusCodes.Status403Forbidden,
        ComputeErrorCode.ContainerNotFound or ComputeErrorCode.ImageNotFound or ComputeErrorCode.SwitchNotFound or ComputeErrorCode.TeamNotFound => StatusCodes.Status404NotFound,
        ComputeErrorCode.NameInUse or ComputeErrorCode.InvalidTransition or ComputeErrorCode.ImageInUse
            or ComputeErrorCode.SwitchInUse or ComputeErrorCode.SubnetOverlap or ComputeErrorCode.PortInUse => StatusCodes.Status409Conflict,
        ComputeErrorCode.NotSupported => StatusCodes.Status501NotImplemented,
        ComputeErrorCode.Timeout => StatusCodes.Status504GatewayTimeout,
        ComputeErrorCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static ProblemDetails Problem(int status, string code, string detail) => new()
    {
        Status = status,
        Title = code,
        Detail = detail,
        Type = $"https://portal.invalid/errors/{code}",
        Extensions = { ["code"] = code },
    };

    /// <summary>Turns every failure into problem details; a bug is a 500 whose detail hides internals.</summary>
    public static void UseApiErrors(this WebApplication app) => app.UseExceptionHandler(errors => errors.Run(async context =>
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var problem = error switch
        {
            ComputeException e => Problem(StatusOf(e.Code), e.Code.ToString(), e.Message),
            BadHttpRequestException e => Problem(e.StatusCode, "InvalidArgument", $"The request could not be read: {e.Message}"),
            _ => Problem(500, "InternalError", "The agent failed unexpectedly; its log has the details."),
        };
        if (problem.Status == 500)
        {
            context.RequestServices.GetRequiredService<ILogger<WebApplication>>().LogError(error, "Request {Path} failed", context.Request.Path);
        }

        context.Response.StatusCode = problem.Status ?? 500;
        await context.Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
    }));
}
