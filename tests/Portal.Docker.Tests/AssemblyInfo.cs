// The docker API serves a unix socket and its integration tier drives Linux containers: Linux hosts only (as CI).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
