namespace Portal.Shared.Native;

/// <summary>A file a spawned child gets as ChildFd: our fd ParentFd dup'ed, or Path opened (in order, after setsid).</summary>
internal sealed record SpawnFile(int ChildFd, int? ParentFd = null, string? Path = null, int Flags = Libc.O_RDWR);
