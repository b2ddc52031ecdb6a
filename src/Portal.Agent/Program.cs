using Portal.Agent;
using Portal.Agent.Audit;
using Portal.Agent.Auth;
using Portal.Agent.Hub;

var builder = WebApplication.CreateBuilder(args);
builder.AddAgentServices();

var app = builder.Build();
app.UseApiErrors();
app.UseAuthentication();
app.UseAuditCaller();
app.UseKeyRequestTracking();
app.UseAuthorization();
app.MapAgentEndpoints();
app.MapTeamCertificates();
app.MapHub<AgentHub>("/hubs/agent");
app.MapOpenApi();
app.Lifetime.ApplicationStarted.Register(() => AgentSocket.Secure(app.Services));
app.Run();

/// <summary>Entry point, visible to tests that start the real agent.</summary>
public partial class Program;
