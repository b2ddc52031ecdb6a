namespace Portal.Guest;

/// <summary>A request that cannot be carried out; the message goes to the host as the response's Error.</summary>
internal sealed class GuestException(string message, Exception? inner = null) : Exception(message, inner);
