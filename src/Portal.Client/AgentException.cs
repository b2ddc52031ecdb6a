using System.Globalization;
using System.Net;
using System.Text.Json;
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

    /// <summary>The agent has no such hub method (an agent older than the client): nothing ran.</summary>
    public bool IsUnknownHubMethod => Code == "RuntimeFailure" && Message == "Method does not exist.";

    /// <summary>
    /// The agent's hub errors read "Code: message"; SignalR may put "An unexpected error occurred invoking 'X' on the
    /// server. HubException: " before them. Split them back into the code and the agent's message.
    /// </summary>
    public static AgentException FromHub(HubException e)
    {
        const string wrapper = "HubException: ";
        var message = e.Message;
        var wrapped = message.IndexOf(wrapper, StringComparison.Ordinal);
        if (wrapped >= 0)
        {
            message = message[(wrapped + wrapper.Length)..];
        }

        // SignalR's own refusal of a method the key's scope does not allow (the hub's [Authorize] policies).
        const string unauthorized = "because user is unauthorized";
        if (message.EndsWith(unauthorized, StringComparison.Ordinal))
        {
            return new AgentException("Forbidden", $"The agent refused this call: the API key's scope is too narrow for it; use an Operate or Admin key. ({message})", 403, e);
        }

        var separator = message.IndexOf(": ", StringComparison.Ordinal);
        if (separator > 0 && !message[..separator].Contains(' ', StringComparison.Ordinal))
        {
            return new AgentException(message[..separator], message[(separator + 2)..], null, e);
        }

        return new AgentException("RuntimeFailure", message, null, e);
    }

    /// <summary>A failed REST answer as an AgentException: the problem document's code and detail, else the status and text.</summary>
    public static async Task<AgentException> FromResponseAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? code = null;
        string? detail = null;
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            code = root.TryGetProperty("code", out var c) ? c.GetString() : root.TryGetProperty("title", out var t) ? t.GetString() : null;
            detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
            // Not a problem document: the raw text is the message.
        }

        code ??= response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => "Unauthorized",
            HttpStatusCode.Forbidden => "Forbidden",
            HttpStatusCode.NotFound => "NotFound",
            _ => "RuntimeFailure",
        };
        return new AgentException(code, detail ?? (text.Length > 0 ? text : $"The agent answered {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}."), status);
    }
}
