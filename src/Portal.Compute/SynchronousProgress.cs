namespace Portal.Compute;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its handler on the reporting thread, in order (Progress&lt;T&gt; posts to the
/// thread pool when there is no synchronization context, so its reports can arrive out of order or after the work).
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> handler) : IProgress<T>
{
    public void Report(T value) => handler(value);
}
