using Portal.Agent;

var builder = WebApplication.CreateBuilder(args);
builder.AddAgentServices();

var app = builder.Build();
app.UseApiErrors();
app.MapHostEndpoints();
app.MapContainerEndpoints();
app.Lifetime.ApplicationStarted.Register(() => AgentSocket.Secure(app.Services));
app.Run();

/// <summary>Entry point, visible to tests that start the real agent.</summary>
public partial class Program;
