using System.Runtime.Versioning;

// The guest agent and its tests are Linux-only (the end-to-end tests boot QEMU).
[assembly: SupportedOSPlatform("linux")]
