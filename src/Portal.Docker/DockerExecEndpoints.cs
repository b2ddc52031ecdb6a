using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>docker exec: create an exec instance, start it (hijacked or detached), resize its terminal, inspect its exit code.</summary>
internal static class DockerExecEndpoints
{
    public static void MapDockerExec(this IEndpointRouteBuilder app)
    {
        app.MapPost("/containers/{id}/exec", CreateAsync);
        app.MapPost("/exec/{id}/start", StartAsync);
        app.MapPost("/exec/{id}/resize", ResizeAsync);
        app.MapGet("/exec/{id}/json", InspectAsync);
    }

    private static async Task CreateAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var request = await DockerJson.ReadBodyAsync<DockerExecCreateRequest>(http).ConfigureAwait(false);
        var container = host.Containers.GetContainer(DockerQuery.Route(http, "id"));
        if (request.Cmd is not { Count: > 0 } cmd || cmd[0].Length == 0)
        {
            throw DockerApiException.BadParameter("No exec command specified");
        }

        if (request.Privileged == true)
        {
            throw DockerApiException.BadParameter("privileged exec is not supported by this engine");
        }

        if (container.State is not (ContainerState.Running or ContainerState.Stopping))
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"container {container.Id} is not running");
        }

        var (rows, columns) = ConsoleSize(request.ConsoleSize);
        var tty = request.Tty ?? false;
        var exec = new DockerExec
        {
            Id = DockerExecStore.NewId(),
            ContainerId = container.Id,
            CreatedAt = DateTimeOffset.UtcNow,
            AttachStdout = request.AttachStdout ?? false,
            AttachStderr = request.AttachStderr ?? false,
            Spec = new ProcessSpec
            {
                Command = DockerCreateMapper.NoNul(cmd, "Cmd"),
                Environment = DockerCreateMapper.Env(request.Env, "Env"),
                WorkingDirectory = request.WorkingDir is { Length: > 0 } wd ? DockerCreateMapper.NoNul(wd, "WorkingDir") : null,
                User = request.User is { Length: > 0 } user ? DockerCreateMapper.NoNul(user, "User") : null,
                Tty = tty,
                Stdin = request.AttachStdin ?? false,
                Columns = columns ?? 80,
                Rows = rows ?? 24,
            },
        };
        if (exec.Spec.WorkingDirectory is { } dir && !dir.StartsWith('/'))
        {
            throw DockerApiException.BadParameter($"invalid WorkingDir \"{dir}\": it must be an absolute path");
        }

        http.RequestServices.GetRequiredService<DockerExecStore>().Add(exec);
        await DockerJson.WriteAsync(http, new DockerIdResponse(exec.Id, []), StatusCodes.Status201Created).ConfigureAwait(false);
    }

    private static async Task StartAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var exec = http.RequestServices.GetRequiredService<DockerExecStore>().Get(DockerQuery.Route(http, "id"));
        var request = await DockerJson.ReadOptionalBodyAsync<DockerExecStartRequest>(http).ConfigureAwait(false) ?? new DockerExecStartRequest();
        var (rows, columns) = ConsoleSize(request.ConsoleSize);
        if (!exec.TryClaimStart())
        {
            throw new DockerApiException(StatusCodes.Status409Conflict, $"Exec command {exec.Id} has already run");
        }

        var spec = exec.Spec;
        if (rows is not null && columns is not null)
        {
            spec = spec with { Rows = rows.Value, Columns = columns.Value };
        }

        if (exec.PendingSize is { } size)
        {
            spec = spec with { Columns = size.Columns, Rows = size.Rows };
        }

        var detach = request.Detach ?? false;
        var logger = http.RequestServices.GetRequiredService<ILogger<DockerExec>>();
        IContainerProcess process;
        try
        {
            // Started before the hijack, so a failure is still an HTTP error the CLI prints.
            process = await host.Containers.ExecAsync(exec.ContainerId, spec with { Stdin = spec.Stdin && !detach }, http.RequestAborted).ConfigureAwait(false);
        }
        catch
        {
            exec.ExitCode = 126;
            throw;
        }

        exec.Process = process;
        exec.Running = true;
        if (detach)
        {
            _ = FinishDetachedAsync(exec, process, logger);
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }

        await using (process.ConfigureAwait(false))
        {
            var hijacked = await DockerHijack.StartAsync(http, multiplexed: !spec.Tty).ConfigureAwait(false);
            var writer = new DockerStreamWriter(hijacked.Output, multiplexed: !spec.Tty);
            using var stopInput = new CancellationTokenSource();
            var input = process.StandardInput is { } stdin && hijacked.Input is { } from
                ? ForwardStdinAsync(from, stdin, stopInput.Token)
                : CloseAsync(process.StandardInput);
            // Not the request's abort token: Kestrel signals it when the client half-closes after its stdin ended.
            var output = Drain(process.StandardOutput, exec.AttachStdout || spec.Tty ? writer : null, DockerStreamKind.Stdout, CancellationToken.None);
            var error = process.StandardError is { } stderr ? Drain(stderr, exec.AttachStderr ? writer : null, DockerStreamKind.Stderr, CancellationToken.None) : Task.CompletedTask;
            try
            {
                var code = await process.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAll(output, error).ConfigureAwait(false);
                exec.ExitCode = code; // recorded before the stream ends: the CLI inspects the exit code right after
            }
            finally
            {
                exec.Running = false;
                exec.ExitCode ??= 137;
                await stopInput.CancelAsync().ConfigureAwait(false);
                await input.ConfigureAwait(false);
            }
        }
    }

    private static async Task FinishDetachedAsync(DockerExec exec, IContainerProcess process, ILogger logger)
    {
        await using (process.ConfigureAwait(false))
        {
            try
            {
                var output = Drain(process.StandardOutput, null, DockerStreamKind.Stdout, CancellationToken.None);
                var error = process.StandardError is { } stderr ? Drain(stderr, null, DockerStreamKind.Stderr, CancellationToken.None) : Task.CompletedTask;
                exec.ExitCode = await process.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAll(output, error).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or Portal.Compute.ComputeException or OperationCanceledException)
            {
                logger.LogWarning(e, "Detached exec {Id} ended abnormally", exec.Id);
                exec.ExitCode ??= 137;
            }
            finally
            {
                exec.Running = false;
            }
        }
    }

    /// <summary>Reads a process stream to its end, writing it to the client when attached (a stream nobody reads would block the process).</summary>
    private static async Task Drain(Stream source, DockerStreamWriter? writer, DockerStreamKind kind, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
            {
                if (writer is not null && !ct.IsCancellationRequested)
                {
                    try
                    {
                        await writer.WriteAsync(kind, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
                    {
                        writer = null; // the client left; keep draining so the process is not blocked
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The process's stream broke: its end is reported by WaitAsync.
        }
    }

    private static async Task ForwardStdinAsync(Stream from, Stream stdin, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await stdin.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                await stdin.FlushAsync(ct).ConfigureAwait(false);
            }

            await stdin.DisposeAsync().ConfigureAwait(false); // the client's EOF becomes the process's EOF
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The process ended or the client left.
        }
    }

    private static async Task CloseAsync(Stream? stdin)
    {
        if (stdin is not null)
        {
            await stdin.DisposeAsync().ConfigureAwait(false); // no way for input to arrive: the process sees EOF
        }
    }

    private static Task ResizeAsync(HttpContext http)
    {
        var exec = http.RequestServices.GetRequiredService<DockerExecStore>().Get(DockerQuery.Route(http, "id"));
        var (columns, rows) = DockerContainerEndpoints.TerminalSize(http);
        if (exec.Process is { } process && exec.Running)
        {
            process.Resize(columns, rows);
        }
        else
        {
            exec.PendingSize = (columns, rows);
        }

        http.Response.StatusCode = StatusCodes.Status200OK;
        return Task.CompletedTask;
    }

    private static Task InspectAsync(HttpContext http)
    {
        var exec = http.RequestServices.GetRequiredService<DockerExecStore>().Get(DockerQuery.Route(http, "id"));
        return DockerJson.WriteAsync(http, new DockerExecInspect
        {
            ID = exec.Id,
            Running = exec.Running,
            ExitCode = exec.Running || !exec.Started ? null : exec.ExitCode,
            ProcessConfig = new DockerExecProcessConfig
            {
                Tty = exec.Spec.Tty,
                Entrypoint = exec.Spec.Command[0],
                Arguments = exec.Spec.Command.Skip(1).ToList(),
                User = exec.Spec.User ?? "",
            },
            OpenStdin = exec.Spec.Stdin,
            OpenStdout = exec.AttachStdout,
            OpenStderr = exec.AttachStderr,
            ContainerID = exec.ContainerId,
            Pid = 0,
        });
    }

    /// <summary>ConsoleSize is [height, width]; zeros mean "not given".</summary>
    private static (int? Rows, int? Columns) ConsoleSize(IReadOnlyList<int>? size)
    {
        if (size is null || size.Count == 0 || size.All(v => v == 0))
        {
            return (null, null);
        }

        if (size.Count != 2 || size[0] is < 1 or > 1000 || size[1] is < 1 or > 1000)
        {
            throw DockerApiException.BadParameter("invalid ConsoleSize: give [height, width], each 1 to 1000");
        }

        return (size[0], size[1]);
    }
}
