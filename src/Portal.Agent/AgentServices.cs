using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Portal.Agent.Auth;
using Portal.Agent.Hub;
using Portal.Compute;
using Portal.Compute.Audit;
using Portal.Compute.Teams;
using Portal.Docker;

namespace Portal.Agent;

public static class AgentServices
{
    public static void AddAgentServices(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<ComputeOptions>(builder.Configuration.GetSection("Compute"));
        builder.Services.Configure<AgentOptions>(builder.Configuration.GetSection("Agent"));
        builder.Services.AddSingleton<ComputeHostService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ComputeHostService>());
        // Every front end (REST, hub, the docker socket) gets the audited host: each state-changing call is recorded there, once.
        builder.Services.AddSingleton(sp =>
        {
            var audit = sp.GetRequiredService<IOptions<AgentOptions>>().Value.Audit;
            var directory = string.IsNullOrWhiteSpace(audit.Directory)
                ? Path.Combine(sp.GetRequiredService<IOptions<ComputeOptions>>().Value.StateRoot, "agent", "audit")
                : audit.Directory;
            return new AuditLog(audit, directory);
        });
        builder.Services.AddSingleton(sp => new AuditTrail(sp.GetRequiredService<AuditLog>(), Environment.MachineName, sp.GetRequiredService<ILogger<AuditTrail>>()));
        // Outside the audit: a team caller's refusals are recorded (denied) there, its allowed calls by the audited host.
        builder.Services.AddSingleton<IComputeHost>(sp => new TeamScopedComputeHost(
            new AuditedComputeHost(sp.GetRequiredService<ComputeHostService>(), sp.GetRequiredService<AuditTrail>()), sp.GetRequiredService<AuditTrail>(),
            sp.GetRequiredService<TeamStore>(), sp.GetRequiredService<TeamQuotaLedger>(), sp.GetRequiredService<IOptions<ComputeOptions>>().Value.DefaultPidsLimit));
        builder.Services.AddSingleton(sp => new TeamStore(sp.GetRequiredService<IOptions<ComputeOptions>>().Value.StateRoot));
        builder.Services.AddSingleton(sp => new TeamSessions(sp.GetRequiredService<TeamStore>()));
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ComputeOptions>>().Value;
            var host = sp.GetRequiredService<ComputeHostService>();
            // The accelerator (TCG's translation cache is charged too) is known once the host has started.
            VmMemoryCharge? known = null;
            return new TeamQuotaLedger(() => host.Containers.ListContainers(),
                () => known ?? (host.IsReady ? known = VmMemoryCharge.For(options, host.GetHostInfo().VmAccelerator) : VmMemoryCharge.For(options, null)));
        });
        builder.Services.AddDockerApi(builder.Configuration, sp => new DockerCompute(sp.GetRequiredService<IComputeHost>(), sp.GetRequiredService<ComputeHostService>().Ready));
        builder.Services.AddSingleton<ApiKeyStore>();
        builder.Services.AddHostedService<ApiKeyBootstrap>();
        builder.Services.AddSingleton<KeyConnections>();
        builder.Services.AddSingleton<ContainerFeed>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization(o => o.AddAgentPolicies());
        builder.Services.AddSingleton<IAuthorizationHandler, ScopeAuthorization>();
        builder.Services.AddSignalR(o =>
            {
                // The key first: a call on a rotated or revoked key does not even wait for the compute host.
                o.AddFilter<ApiKeyHubFilter>();
                o.AddFilter(new ComputeErrorHubFilter());
            })
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter(allowIntegerValues: false)));
        builder.Services.AddOpenApi();
        // Enums by name only: a number such as -1 is no runtime type.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(allowIntegerValues: false)));
        builder.Services.AddProblemDetails();
        // Unreadable bodies reach the one error handler, which says what was wrong.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

        // The hub takes a key from ?access_token= (browsers cannot set websocket headers), and the hosting log's request
        // lines carry the query string: those lines never go to a log, whatever Logging:LogLevel says (added after the
        // configuration's rules, so this one wins for its category).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", level => level >= LogLevel.Warning);

        var agent = builder.Configuration.GetSection("Agent").Get<AgentOptions>() ?? new AgentOptions();
        AgentSocket.Prepare(agent.Socket);
        var url = new Uri(agent.Url);
        if (url.Scheme != Uri.UriSchemeHttp)
        {
            throw new InvalidOperationException($"Agent:Url '{agent.Url}' must be an http:// address; TLS arrives with client certificates.");
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(agent.Socket);
            if (url.IsLoopback && url.Host == "localhost")
            {
                kestrel.ListenLocalhost(url.Port);
            }
            else
            {
                kestrel.Listen(System.Net.IPAddress.Parse(url.Host.Trim('[', ']')), url.Port);
            }
        });
    }
}
