using System.Text;
using System.Threading.Channels;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Components.Terminal;
using Portal.Web.Tests.Fakes;

namespace Portal.Web.Tests.Terminal;

public sealed class TerminalSessionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly ShellClient _client = new();
    private readonly Channel<string> _screen = Channel.CreateUnbounded<string>();

    private TerminalSession NewSession(params string[] command) =>
        new("s1", "h1", "local", Views.Info("web", ContainerState.Running, RuntimeType.HyperV), command.Length == 0 ? TerminalSession.DefaultCommand : command);

    private Task RunAsync(TerminalSession session) =>
        session.RunAsync(_client, 120, 40, data => _screen.Writer.WriteAsync(Encoding.UTF8.GetString(data)).AsTask());

    private async Task<string> NextOutputAsync() => await _screen.Reader.ReadAsync().AsTask().WaitAsync(Patience);

    [Fact]
    public async Task Keys_AndResizes_ReachTheShell_AndItsExitCodeEndsTheSession()
    {
        using var session = NewSession();
        var run = RunAsync(session);
        Assert.Equal("web-", (await NextOutputAsync())[..4]);
        Assert.Equal(TerminalSessionState.Running, session.State);
        Assert.Equal(["/bin/sh"], _client.Started!.Command);
        Assert.True(_client.Started.Tty);
        Assert.True(_client.Started.Stdin);
        Assert.Equal((120, 40), (_client.Started.Columns, _client.Started.Rows));
        Assert.Contains("TERM=xterm-256color", _client.Started.Environment);

        Assert.True(session.Send("ls\r"));
        Assert.Equal("you typed: ls\r", await NextOutputAsync());
        Assert.True(session.Resize(100, 30));
        Assert.Equal("size 100x30", await NextOutputAsync());
        Assert.False(session.Resize(0, 30));

        session.Send("exit\r");
        await run.WaitAsync(Patience);
        Assert.Equal(TerminalSessionState.Exited, session.State);
        Assert.Equal(3, session.ExitCode);
        Assert.Contains("exited with code 3", session.Status, StringComparison.Ordinal);
        Assert.False(session.Send("too late"));
    }

    [Fact]
    public async Task TheAgentsError_FailsTheSession_WithItsMessage()
    {
        _client.Failure = new AgentException("InvalidTransition", "Container 'web' is not running; start it first.");
        using var session = NewSession("bash", "-l");
        await RunAsync(session).WaitAsync(Patience);
        Assert.Equal(TerminalSessionState.Failed, session.State);
        Assert.Equal(["bash", "-l"], _client.Started!.Command);
        Assert.Equal("The session failed: Container 'web' is not running; start it first.", session.Status);
    }

    [Fact]
    public async Task Closing_EndsTheStream_AndRaisesChanged()
    {
        using var session = NewSession();
        var changes = 0;
        session.Changed += () => Interlocked.Increment(ref changes);
        var run = RunAsync(session);
        await NextOutputAsync();
        session.Close();
        await run.WaitAsync(Patience);
        Assert.Equal(TerminalSessionState.Closed, session.State);
        Assert.False(session.IsLive);
        Assert.Equal(2, changes); // Running, then Closed
        session.Close(); // twice is harmless
    }
}
