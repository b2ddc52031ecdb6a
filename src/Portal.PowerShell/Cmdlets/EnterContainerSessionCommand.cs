using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.PowerShell.Client;
using Portal.PowerShell.Model;
using Portal.PowerShell.Terminal;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// An interactive shell in a running container over the agent hub's Exec stream with a terminal: raw keys in, output
/// out, resizes follow the local terminal, and the session ends when the shell exits ($LASTEXITCODE is its status).
/// The module's Enter-PSSession proxy calls this for -ContainerId and the built-in cmdlet for everything else.
/// </summary>
[Cmdlet(VerbsCommon.Enter, "ContainerSession")]
public sealed class EnterContainerSessionCommand : PortalCmdlet
{
    /// <summary>The container's id, unique id prefix, or name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Name", "Id")]
    [ArgumentCompleter(typeof(ContainerNameCompleter))]
    public string ContainerId { get; set; } = "";

    /// <summary>The seed's switch: the shell runs as root (uid 0) in the container.</summary>
    [Parameter]
    public SwitchParameter RunAsAdministrator { get; set; }

    /// <summary>The program to run; the container's sh by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Shell { get; set; } = ["sh"];

    protected override void ProcessRecord()
    {
        IAgentClient client;
        PortalContainer container;
        try
        {
            client = Client;
            container = PortalContainer.From(Await(client.GetContainerAsync(ContainerId, Cancellation)), Agent);
        }
        catch (AgentException e)
        {
            ThrowTerminatingError(e.ToErrorRecord(ContainerId));
            return;
        }

        if (container.State != ContainerState.Running)
        {
            ThrowTerminatingError(new AgentException("InvalidTransition", $"Container '{container.Name}' is {container.State}: Start-Container it first.").ToErrorRecord(container));
        }

        try
        {
            var exitCode = Await(RunAsync(client, container));
            SessionState.PSVariable.Set("global:LASTEXITCODE", exitCode);
        }
        catch (AgentException e)
        {
            ThrowTerminatingError(e.ToErrorRecord(container));
        }
    }

    private async Task<int> RunAsync(IAgentClient client, PortalContainer container)
    {
        var (columns, rows) = RawTerminal.Size;
        var tty = RawTerminal.IsTerminal;
        var environment = new List<string> { $"PS1=[{container.Name}]: \\w # " };
        if (System.Environment.GetEnvironmentVariable("TERM") is { Length: > 0 } term)
        {
            environment.Add($"TERM={term}");
        }

        var start = new ExecStart
        {
            Command = Shell,
            Environment = environment,
            User = RunAsAdministrator ? "0" : null,
            Tty = tty,
            Stdin = true,
            Columns = columns,
            Rows = rows,
        };

        using var session = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        var input = Channel.CreateUnbounded<ProcessInput>();
        // The container's terminal follows the local one's size.
        using var resize = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ =>
        {
            var (c, r) = RawTerminal.Size;
            input.Writer.TryWrite(new ProcessInput { Columns = c, Rows = r });
        });

        using var terminal = RawTerminal.Enter();
        var pump = Task.Factory.StartNew(() => PumpInput(input.Writer, session.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var exitCode = 0;
        try
        {
            using var stdout = Console.OpenStandardOutput();
            using var stderr = Console.OpenStandardError();
            await foreach (var output in client.ExecAsync(container.ContainerId, start, input.Reader.ReadAllAsync(session.Token), session.Token).ConfigureAwait(false))
            {
                if (output.Data is { Length: > 0 } data)
                {
                    var target = output.Stream == LogStream.Stderr ? stderr : stdout;
                    await target.WriteAsync(data, session.Token).ConfigureAwait(false);
                    await target.FlushAsync(session.Token).ConfigureAwait(false);
                }

                exitCode = output.ExitCode ?? exitCode;
            }
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            input.Writer.TryComplete();
            await pump.ConfigureAwait(false);
        }

        return exitCode;
    }

    /// <summary>Keys to the container until the session ends; end of input (a pipe, not a terminal) closes its stdin.</summary>
    private static void PumpInput(ChannelWriter<ProcessInput> input, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var data = RawTerminal.Read(TimeSpan.FromMilliseconds(100));
            if (data is null)
            {
                continue;
            }

            if (data.Length == 0)
            {
                input.TryWrite(new ProcessInput { CloseStdin = true });
                return;
            }

            input.TryWrite(new ProcessInput { Data = data });
        }
    }
}
