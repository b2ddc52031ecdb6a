using System.Text;
using System.Threading.Channels;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.Components.Terminal;

public enum TerminalSessionState
{
    Connecting,
    Running,
    Exited,
    Failed,
    Closed,
}

/// <summary>
/// One interactive shell in a container: the agent's Exec stream with a TTY, fed by the keys and resizes the browser sends
/// through the circuit. The browser never reaches the agent; the portal's connection to the agent carries the stream.
/// </summary>
public sealed class TerminalSession(string id, string hostId, string hostName, ContainerInfo container, IReadOnlyList<string> command) : IDisposable
{
    /// <summary>Busybox's shell exists in every image the portal makes; others may have bash too.</summary>
    public static readonly IReadOnlyList<string> DefaultCommand = ["/bin/sh"];

    private readonly Channel<ProcessInput> _input = Channel.CreateUnbounded<ProcessInput>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private int _closed;

    public string Id { get; } = id;

    public string HostId { get; } = hostId;

    public string HostName { get; } = hostName;

    public ContainerInfo Container { get; } = container;

    public IReadOnlyList<string> Command { get; } = command;

    public TerminalSessionState State { get; private set; } = TerminalSessionState.Connecting;

    public int? ExitCode { get; private set; }

    /// <summary>The agent's message when the session could not start or broke.</summary>
    public string? Error { get; private set; }

    public bool IsLive => State is TerminalSessionState.Connecting or TerminalSessionState.Running;

    public string Title => $"{Container.Name} @ {HostName}";

    /// <summary>What the session's status line says.</summary>
    public string Status => State switch
    {
        TerminalSessionState.Connecting => "Connecting ...",
        TerminalSessionState.Running => $"Running {string.Join(' ', Command)} in {Container.Name} ({Model.Format.Isolation(Container.RuntimeType)}) on {HostName}",
        TerminalSessionState.Exited => $"The shell exited with code {ExitCode}.",
        TerminalSessionState.Failed => $"The session failed: {Error}",
        _ => "Closed.",
    };

    /// <summary>Raised when <see cref="State"/> changes (on the caller's context).</summary>
    public event Action? Changed;

    /// <summary>Runs the shell until it exits or the session is closed; <paramref name="write"/> gets the terminal's output.</summary>
    public async Task RunAsync(IAgentClient client, int columns, int rows, Func<byte[], Task> write)
    {
        var start = new ExecStart
        {
            Command = Command,
            Tty = true,
            Stdin = true,
            Columns = Math.Max(columns, 1),
            Rows = Math.Max(rows, 1),
            Environment = ["TERM=xterm-256color"],
        };
        try
        {
            var output = client.ExecAsync(Container.Id, start, _input.Reader.ReadAllAsync(_stop.Token), _stop.Token);
            SetState(TerminalSessionState.Running);
            await foreach (var message in output)
            {
                if (message.Data is { Length: > 0 } data)
                {
                    await write(data);
                }

                if (message.ExitCode is { } code)
                {
                    ExitCode = code;
                }
            }

            SetState(_stop.IsCancellationRequested ? TerminalSessionState.Closed : TerminalSessionState.Exited);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            SetState(TerminalSessionState.Closed);
        }
        catch (AgentException e)
        {
            Error = e.Message;
            SetState(TerminalSessionState.Failed);
        }
        finally
        {
            _input.Writer.TryComplete();
        }
    }

    /// <summary>Keys or pasted text, as the terminal encodes them.</summary>
    public bool Send(string text) => IsLive && _input.Writer.TryWrite(new ProcessInput { Data = Encoding.UTF8.GetBytes(text) });

    /// <summary>The browser's terminal changed size: the container's TTY follows (SIGWINCH).</summary>
    public bool Resize(int columns, int rows) =>
        IsLive && columns > 0 && rows > 0 && _input.Writer.TryWrite(new ProcessInput { Columns = columns, Rows = rows });

    /// <summary>Ends the stream; the agent ends the shell (its TTY goes away).</summary>
    public void Close()
    {
        _input.Writer.TryComplete();
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _stop.Cancel();
        }
    }

    public void Dispose()
    {
        Close();
        _stop.Dispose();
    }

    private void SetState(TerminalSessionState state)
    {
        State = state;
        Changed?.Invoke();
    }
}
