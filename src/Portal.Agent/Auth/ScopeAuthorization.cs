using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Portal.Agent.Audit;
using Portal.Compute.Audit;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Agent.Auth;

/// <summary>A scope an API key needs (Read &lt; Operate &lt; Admin).</summary>
public sealed record ScopeRequirement(ApiScope Scope) : IAuthorizationRequirement;

/// <summary>
/// The agent's one authorization decision for REST and the hub alike: a key's scope admits its own and the narrower
/// requirements. A refusal of an authenticated caller is recorded once in the audit trail (rule "scope"), under the
/// action it asked for: the REST endpoint's <see cref="AuditedAction"/>, or the hub method's.
/// </summary>
public sealed class ScopeAuthorization(AuditTrail audit) : IAuthorizationHandler
{
    public const string Rule = "scope";

    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        var scope = AgentPolicies.ScopeOf(context.User);
        ScopeRequirement? missing = null;
        foreach (var requirement in context.PendingRequirements.OfType<ScopeRequirement>().ToList())
        {
            if (scope >= requirement.Scope)
            {
                context.Succeed(requirement);
            }
            else if (missing is null || requirement.Scope > missing.Scope)
            {
                missing = requirement;
            }
        }

        // No scope: not authenticated; the challenge records that failed sign-in.
        if (missing is not null && scope is { } has)
        {
            RecordDenial(context.Resource, has, missing.Scope);
        }

        return Task.CompletedTask;
    }

    private void RecordDenial(object? resource, ApiScope has, ApiScope needs)
    {
        HttpContext? http;
        string action;
        AuditTarget? target;
        Dictionary<string, string>? details = null;
        switch (resource)
        {
            case HttpContext request:
                http = request;
                if (request.GetEndpoint()?.Metadata.GetMetadata<AuditedAction>() is { } audited)
                {
                    action = audited.Action;
                    target = audit.Target(audited.TargetType, null, audited.RouteValue is { } key ? request.Request.RouteValues[key]?.ToString() : null);
                }
                else
                {
                    action = "api.request";
                    target = null;
                    details = new(StringComparer.Ordinal) { ["method"] = request.Request.Method, ["path"] = AuditTrail.Clip(request.Request.Path.Value) ?? "" };
                }

                break;
            case HubInvocationContext invocation:
                http = invocation.Context.GetHttpContext();
                (action, target) = HubAction(invocation.HubMethodName, invocation.HubMethodArguments);
                break;
            default:
                return;
        }

        audit.Deny(action, target, Rule, $"The caller's scope is {has}; {action} needs {needs}.", AuditCaller.Current ?? (http is null ? null : AuditCallers.From(http)), details);
    }

    /// <summary>The audit action of a hub method and the target its arguments name.</summary>
    private (string Action, AuditTarget? Target) HubAction(string method, IReadOnlyList<object?> arguments)
    {
        var first = arguments.Count > 0 ? arguments[0] : null;
        string? Reference() => first as string;
        return method switch
        {
            nameof(IAgentHub.CreateContainer) or nameof(IAgentHub.CreateContainerWithWarnings) => (AuditActions.ContainerCreate, audit.Target("container", null, (first as ContainerCreateSpec)?.Name)),
            nameof(IAgentHub.StartContainer) => (AuditActions.ContainerStart, audit.Target("container", null, Reference())),
            nameof(IAgentHub.StopContainer) => (AuditActions.ContainerStop, audit.Target("container", null, Reference())),
            nameof(IAgentHub.KillContainer) => (AuditActions.ContainerKill, audit.Target("container", null, Reference())),
            nameof(IAgentHub.RestartContainer) => (AuditActions.ContainerRestart, audit.Target("container", null, Reference())),
            nameof(IAgentHub.RemoveContainer) => (AuditActions.ContainerRemove, audit.Target("container", null, Reference())),
            nameof(IAgentHub.ConvertContainer) => (AuditActions.ContainerConvert, audit.Target("container", null, Reference())),
            nameof(IAgentHub.Exec) => (AuditActions.ContainerExec, audit.Target("container", null, Reference())),
            nameof(IAgentHub.Attach) => (AuditActions.ContainerAttach, audit.Target("container", null, Reference())),
            nameof(IAgentHub.CreateSwitch) => (AuditActions.SwitchCreate, audit.Target("switch", null, (first as SwitchCreateSpec)?.Name)),
            nameof(IAgentHub.RemoveSwitch) => (AuditActions.SwitchRemove, audit.Target("switch", null, Reference())),
            nameof(IAgentHub.SubscribeAudit) => (AuditActions.AuditRead, null),
            _ => ("hub." + method, null),
        };
    }
}
