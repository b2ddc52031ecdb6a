using System.Runtime.Versioning;

// The guest agent runs only inside the Linux guest.
[assembly: SupportedOSPlatform("linux")]
