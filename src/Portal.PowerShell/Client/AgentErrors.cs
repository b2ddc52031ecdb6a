// The agent client's one error type (Portal.Client) serves the module too; only its PowerShell mapping lives here.
global using AgentException = Portal.Client.AgentException;
global using AgentTransport = Portal.Client.AgentTransport;
using System.Management.Automation;

namespace Portal.PowerShell.Client;

/// <summary>The one mapping from the agent's error codes to PowerShell's error categories and records.</summary>
public static class AgentErrors
{
    extension(AgentException e)
    {
        public ErrorCategory Category => e.Code switch
        {
            "ContainerNotFound" or "ImageNotFound" or "NotFound" => ErrorCategory.ObjectNotFound,
            "InvalidArgument" or "ImageRejected" => ErrorCategory.InvalidArgument,
            "NameInUse" => ErrorCategory.ResourceExists,
            "InvalidTransition" or "ImageInUse" => ErrorCategory.InvalidOperation,
            "NotSupported" => ErrorCategory.NotImplemented,
            "Unauthorized" => ErrorCategory.AuthenticationError,
            "Forbidden" => ErrorCategory.PermissionDenied,
            "Timeout" => ErrorCategory.OperationTimeout,
            "AgentUnreachable" => ErrorCategory.ConnectionError,
            "QuotaExceeded" => ErrorCategory.QuotaExceeded,
            _ => ErrorCategory.NotSpecified,
        };

        public ErrorRecord ToErrorRecord(object? target) => new(e, e.Code, e.Category, target);
    }
}
