using System.Management.Automation;

namespace Portal.PowerShell.Client;

/// <summary>A failure the agent reported (its problem document's stable code and detail) or a failure to reach it.</summary>
public sealed class AgentException : Exception
{
    public AgentException(string code, string message, int? status = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Status = status;
    }

    public AgentException()
        : this("Unknown", "The agent failed.")
    {
    }

    public AgentException(string message)
        : this("Unknown", message)
    {
    }

    public AgentException(string message, Exception inner)
        : this("Unknown", message, null, inner)
    {
    }

    /// <summary>The agent's stable error code (ContainerNotFound, InvalidTransition, NotSupported ...), or AgentUnreachable.</summary>
    public string Code { get; }

    /// <summary>The HTTP status, when the error came over REST.</summary>
    public int? Status { get; }

    /// <summary>The one mapping from the agent's codes to PowerShell's error categories.</summary>
    public ErrorCategory Category => Code switch
    {
        "ContainerNotFound" or "ImageNotFound" or "SwitchNotFound" => ErrorCategory.ObjectNotFound,
        "InvalidArgument" or "ImageRejected" => ErrorCategory.InvalidArgument,
        "NameInUse" or "PortInUse" => ErrorCategory.ResourceExists,
        "InvalidTransition" or "ImageInUse" or "SwitchInUse" or "SubnetOverlap" => ErrorCategory.InvalidOperation,
        "NotSupported" => ErrorCategory.NotImplemented,
        "Unauthorized" => ErrorCategory.AuthenticationError,
        "Forbidden" => ErrorCategory.PermissionDenied,
        "Timeout" => ErrorCategory.OperationTimeout,
        "AgentUnreachable" => ErrorCategory.ConnectionError,
        "QuotaExceeded" => ErrorCategory.QuotaExceeded,
        _ => ErrorCategory.NotSpecified,
    };

    public ErrorRecord ToErrorRecord(object? target) => new(this, Code, Category, target);
}
