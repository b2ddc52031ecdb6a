namespace Portal.Agent;

/// <summary>The one readiness check of the HTTP APIs: 503 with the agent's error model until the compute host is ready.</summary>
public static class ComputeReadiness
{
    public static TBuilder RequireComputeReady<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.AddEndpointFilter(async (context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<ComputeHostService>().IsReady
                ? await next(context)
                : Results.Problem(ApiErrors.Problem(StatusCodes.Status503ServiceUnavailable, nameof(Compute.ComputeErrorCode.Unavailable), ComputeHostService.StartingMessage)));
}
