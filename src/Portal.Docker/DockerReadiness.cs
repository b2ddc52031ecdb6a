namespace Portal.Docker;

/// <summary>The one readiness check of the docker API: 503 in docker's error format until the compute host is ready.</summary>
internal static class DockerReadiness
{
    public const string Starting = "the engine is still starting (probing runtimes, loading containers): try again in a few seconds";

    public const string Failed = "the engine's compute host did not start: the agent's log has the details";

    /// <summary>The refusal is thrown, so that <see cref="DockerErrors"/> writes it like every other docker error.</summary>
    public static TBuilder RequireComputeReady<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.AddEndpointFilter((context, next) =>
        {
            var compute = context.HttpContext.RequestServices.GetRequiredService<DockerCompute>();
            return compute.IsReady
                ? next(context)
                : throw new DockerApiException(StatusCodes.Status503ServiceUnavailable, compute.Ready.IsFaulted || compute.Ready.IsCanceled ? Failed : Starting);
        });
}
