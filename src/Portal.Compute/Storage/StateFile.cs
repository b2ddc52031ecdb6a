using System.Text.Json;
using System.Text.Json.Serialization;
using Portal.Shared.Native;

namespace Portal.Compute.Storage;

/// <summary>Writes state atomically (temp file, fsync, rename, fsync of the directory) so a crash leaves the old or the new file, never half of one.</summary>
public static class StateFile
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static async Task WriteAsync<T>(string path, T value, CancellationToken ct = default)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, Json);
        await WriteBytesAsync(path, bytes, ct).ConfigureAwait(false);
    }

    public static async Task WriteBytesAsync(string path, ReadOnlyMemory<byte> bytes, CancellationToken ct = default)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            SyncDirectory(directory);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public static T? Read<T>(string path)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), Json);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static void SyncDirectory(string directory)
    {
        var fd = Libc.open(directory, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            Linux.Native.fsync(fd);
            Libc.close(fd);
        }
    }
}
