// The compute tests drive Linux containers; they run on Linux hosts only (as CI does).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
