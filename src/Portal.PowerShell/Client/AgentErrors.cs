using System.Management.Automation;
using Portal.Client;

namespace Portal.PowerShell.Client;

/// <summary>The one mapping from the agent's error codes (Portal.Client's AgentException) to PowerShell's error categories and records.</summary>
public static class AgentErrors
{
    extension(AgentException e)
    {
        public ErrorCategory Category => e.Code switch
        {
            "ContainerNotFound" or "ImageNotFound" or "SwitchNotFound" or "TeamNotFound" or "NotFound" => ErrorCategory.ObjectNotFound,
            "InvalidArgument" or "ImageRejected" => ErrorCategory.InvalidArgument,
            "NameInUse" or "PortInUse" => ErrorCategory.ResourceExists,
            "InvalidTransition" or "ImageInUse" or "SwitchInUse" or "SubnetOverlap" => ErrorCategory.InvalidOperation,
            "NotSupported" => ErrorCategory.NotImplemented,
            "Unauthorized" or "RegistryAuthenticationFailed" => ErrorCategory.AuthenticationError,
            "Forbidden" => ErrorCategory.PermissionDenied,
            "Timeout" => ErrorCategory.OperationTimeout,
            AgentException.Unreachable => ErrorCategory.ConnectionError,
            "QuotaExceeded" => ErrorCategory.QuotaExceeded,
            _ => ErrorCategory.NotSpecified,
        };

        public ErrorRecord ToErrorRecord(object? target) => new(e, e.Code, e.Category, target);
    }
}
