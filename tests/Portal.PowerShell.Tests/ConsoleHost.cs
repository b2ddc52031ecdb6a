using System.Diagnostics;
using System.Text;

namespace Portal.PowerShell.Tests;

/// <summary>The module's console host (what ./deploy/portal pwsh runs), started as its own process.</summary>
public static class ConsoleHost
{
    /// <summary>Portal.PowerShell.dll in its own build output (src/Portal.PowerShell/bin/&lt;configuration&gt;/net10.0).</summary>
    public static string Dll
    {
        get
        {
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
            var configuration = output.Parent!.Name;
            for (var dir = output; dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "src", "Portal.PowerShell", "bin", configuration, output.Name, "Portal.PowerShell.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new FileNotFoundException("Portal.PowerShell.dll is not built next to the tests; build Portal.sln.");
        }
    }

    public static ProcessStartInfo StartInfo(AgentProcess agent, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["PORTAL_AGENT_URI"] = agent.SocketUri;
        return psi;
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(ProcessStartInfo psi)
    {
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>
/// A terminal for the console host: `script` gives it a pty; this side types into it and reads the screen, answering
/// the cursor-position queries (ESC[6n) .NET's console sends, as a real terminal would.
/// </summary>
public sealed class PtyTerminal : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _screen = new();
    private readonly Task _reader;
    private readonly CancellationTokenSource _stop = new();

    public PtyTerminal(ProcessStartInfo host)
    {
        var command = string.Join(' ', new[] { host.FileName }.Concat(host.ArgumentList).Select(a => $"'{a.Replace("'", "'\\''", StringComparison.Ordinal)}'"));
        var psi = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-qfec", command, "/dev/null" })
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in host.Environment)
        {
            psi.Environment[key] = value;
        }

        psi.Environment["TERM"] = "xterm";
        _process = Process.Start(psi)!;
        _reader = Task.Run(ReadAsync);
    }

    public string Screen
    {
        get
        {
            lock (_screen)
            {
                return _screen.ToString();
            }
        }
    }

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public async Task TypeAsync(string text)
    {
        await _process.StandardInput.WriteAsync(text);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits until the screen, from <paramref name="from"/> on, holds the text; returns where it ends.</summary>
    public async Task<int> WaitForAsync(string text, int from = 0, double seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            var screen = Screen;
            var at = from < screen.Length ? screen.IndexOf(text, from, StringComparison.Ordinal) : -1;
            if (at >= 0)
            {
                return at + text.Length;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"'{text}' did not appear within {seconds} s. The screen:\n{Screen}");
    }

    public async Task<int> WaitForExitAsync(double seconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        await _stop.CancelAsync();
        await _reader;
        _process.Dispose();
        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[4096];
        var stream = _process.StandardOutput.BaseStream;
        try
        {
            int count;
            while ((count = await stream.ReadAsync(buffer, _stop.Token)) > 0)
            {
                var text = Encoding.UTF8.GetString(buffer, 0, count);
                for (var i = text.IndexOf("\e[6n", StringComparison.Ordinal); i >= 0; i = text.IndexOf("\e[6n", i + 1, StringComparison.Ordinal))
                {
                    await TypeAsync("\e[1;1R");
                }

                lock (_screen)
                {
                    _screen.Append(text);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }
}
