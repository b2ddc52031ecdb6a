using System.Diagnostics;

namespace Portal.Compute.Linux;

/// <summary>Runs a host program to completion and captures its output (at most <see cref="MaxCapturedChars"/> of each stream).</summary>
internal static class HostCommand
{
    /// <summary>
    /// What is kept of each stream: the rest is read and dropped, so a program that prints without end (e2fsck on a
    /// crafted disk, say) neither blocks on its pipe nor grows the agent.
    /// </summary>
    public const int MaxCapturedChars = 16 << 20;

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public bool Succeeded => ExitCode == 0;
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, CancellationToken ct = default, string? stdin = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = new System.Diagnostics.Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"Cannot run '{file}': {e.Message}. Is it installed? ./deploy/portal up installs the prerequisites.", e);
        }

        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin.AsMemory(), ct).ConfigureAwait(false);
            process.StandardInput.Close();
        }

        var output = ReadBoundedAsync(process.StandardOutput, ct);
        var error = ReadBoundedAsync(process.StandardError, ct);
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            throw;
        }

        return new Result(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader, CancellationToken ct)
    {
        var kept = new System.Text.StringBuilder();
        var buffer = new char[64 * 1024];
        int n;
        while ((n = await reader.ReadAsync(buffer.AsMemory(), ct).ConfigureAwait(false)) > 0)
        {
            kept.Append(buffer, 0, Math.Min(n, MaxCapturedChars - kept.Length));
        }

        return kept.ToString();
    }
}
