using System.ComponentModel;
using System.Diagnostics;

namespace Portal.Compute.Images;

/// <summary>Builds a read-only erofs image disk from a directory with mkfs.erofs (erofs-utils).</summary>
internal static class ErofsBuilder
{
    public static async Task BuildAsync(string mkfsPath, string sourceDirectory, string diskPath, CancellationToken ct)
    {
        var start = new ProcessStartInfo(mkfsPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Uncompressed: the disk is read by both the host (loop mount) and guest kernels, and reads stay cheap.
        // Per-file mtimes are kept as unpacked.
        start.ArgumentList.Add("--quiet");
        start.ArgumentList.Add("--preserve-mtime");
        start.ArgumentList.Add(diskPath);
        start.ArgumentList.Add(sourceDirectory);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Win32Exception ex)
        {
            throw new ComputeException(
                ComputeErrorCode.NotSupported,
                $"Cannot run '{mkfsPath}' to build the image disk ({ex.Message}). Install erofs-utils (apt-get install erofs-utils) " +
                "or set ImageStoreOptions.MkfsErofsPath.",
                ex);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            var output = (await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0)
            {
                throw new ComputeException(
                    ComputeErrorCode.RuntimeFailure,
                    $"mkfs.erofs failed with exit code {process.ExitCode} building the image disk: {output}. Check free space under the image store.");
            }
        }
    }
}
