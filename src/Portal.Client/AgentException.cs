using Microsoft.AspNetCore.SignalR;

namespace Portal.Client;

/// <summary>
/// A failure the agent reported (its stable code, such as ContainerNotFound or InvalidTransition, and its detail, which
/// says what to do) or a failure to reach it (code <see cref="Unreachable"/>).
/// </summary>
public sealed class AgentException : Exception
{
    public const string Unreachable = "AgentUnreachable";

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

    /// <summary>The agent's stable error code, or AgentUnreachable.</summary>
    public string Code { get; }

    /// <summary>The HTTP status when the error came over REST.</summary>
    public int? Status { get; }

    /// <summary>The hub sends errors as "Code: message"; split them back.</summary>
    public static AgentException FromHub(HubException e)
    {
        var message = e.Message;
        const string unexpected = "An unexpected error occurred invoking";
        var separator = message.IndexOf(": ", StringComparison.Ordinal);
        if (separator > 0 && !message.StartsWith(unexpected, StringComparison.Ordinal) && !message[..separator].Contains(' ', StringComparison.Ordinal))
        {
            return new AgentException(message[..separator], message[(separator + 2)..], null, e);
        }

        return new AgentException("RuntimeFailure", message, null, e);
    }
}
