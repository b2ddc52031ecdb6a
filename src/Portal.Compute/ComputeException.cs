namespace Portal.Compute;

/// <summary>Stable error codes, mapped once to HTTP, hub, docker and PowerShell errors.</summary>
public enum ComputeErrorCode
{
    InvalidArgument,
    ContainerNotFound,
    NameInUse,
    InvalidTransition,
    ImageNotFound,
    ImageRejected,
    ImageInUse,
    RuntimeFailure,
    NotSupported,
    Timeout,
    SwitchNotFound,
    SwitchInUse,
    SubnetOverlap,
    PortInUse,
    /// <summary>The host is not ready yet (starting); the same call succeeds later.</summary>
    Unavailable,
    /// <summary>The caller's team role does not allow the action; the message names the role and what it may do.</summary>
    Forbidden,
    TeamNotFound,
    /// <summary>A team's quota on this host does not admit the action; the message names the quota, its limit and the use.</summary>
    QuotaExceeded,
    /// <summary>A registry refused the credentials (or asks for a login there is none for); the message names the registry and what to do.</summary>
    RegistryAuthenticationFailed,
}

/// <summary>A failure a caller can act on: the message says what was wrong and what to do.</summary>
public sealed class ComputeException : Exception
{
    public ComputeException(ComputeErrorCode code, string message, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
    }

    public ComputeErrorCode Code { get; }
}
