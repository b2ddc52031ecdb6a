using System.Net;
using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Portal.Docker.Tls;

namespace Portal.Docker;

/// <summary>
/// The docker API's web application on its unix socket and, when configured, a TCP listener with mutual TLS: Kestrel
/// (HTTP/1.1 with the upgrade-body rewriter), the engine's few singletons and its routes. <see cref="DockerApiServer"/>
/// adds the socket's preparation and ownership; tests build it on a temporary socket around a fake compute host.
/// </summary>
internal static class DockerApiApp
{
    /// <summary>Create and exec bodies are small; image loads lift this limit for themselves.</summary>
    public const long MaxJsonBodyBytes = 32L << 20;

    public static WebApplication Build(string socketPath, DockerCompute compute, ILoggerFactory loggers) =>
        Build(socketPath, null, compute, loggers);

    /// <summary>The app on the socket (null: none) and the TLS listener (null: none); at least one of them.</summary>
    public static WebApplication Build(string? socketPath, DockerTlsListener? tls, DockerCompute compute, ILoggerFactory loggers)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(DockerApiApp).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxJsonBodyBytes;
            if (socketPath is not null)
            {
                kestrel.ListenUnixSocket(socketPath, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.Use(UpgradeBodyRewriter.Middleware);
                });
            }

            if (tls is not null)
            {
                kestrel.Listen(tls.EndPoint, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        ServerCertificateSelector = (_, _) => tls.Authority.ServerCertificate(tls.EndPoint.Address),
                        // Only this CA's certificates complete the handshake; revocation and the team are checked per request.
                        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                        ClientCertificateValidation = (certificate, _, _) => tls.Authority.IsIssuedByCa(certificate),
                        CheckCertificateRevocation = false,
                    });
                    listen.Use(UpgradeBodyRewriter.Middleware); // under TLS: it sees the plain HTTP
                });
            }
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(compute);
        builder.Services.AddSingleton(compute.Host);
        builder.Services.AddSingleton<DockerExecStore>();
        builder.Services.AddSingleton<DockerAttachments>();
        builder.Services.AddSingleton<DockerAutoRemover>();
        if (tls is not null)
        {
            builder.Services.AddSingleton(_ => new DockerTlsCallers(tls.Authority, tls.Teams, tls.Audit, TimeProvider.System));
        }

        var app = builder.Build();
        app.MapDockerApi();
        return app;
    }
}

/// <summary>The docker API's TCP listener with mutual TLS: where it listens, its CA, and what maps a certificate to a team caller.</summary>
internal sealed record DockerTlsListener(IPEndPoint EndPoint, DockerCertificateAuthority Authority, Portal.Compute.Teams.TeamStore Teams, Portal.Compute.Audit.AuditTrail Audit);
