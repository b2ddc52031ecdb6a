namespace Portal.Agent.Audit;

/// <summary>
/// Endpoint metadata: the audit action a REST endpoint performs and the route value naming its target, so a request the
/// scope check refuses is recorded under the action it asked for (actions that run are recorded by the audited compute host).
/// </summary>
public sealed record AuditedAction(string Action, string TargetType, string? RouteValue = null);

public static class AuditedActionExtensions
{
    public static TBuilder Audited<TBuilder>(this TBuilder builder, string action, string targetType, string? routeValue = null)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AuditedAction(action, targetType, routeValue));
}
