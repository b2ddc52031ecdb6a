// The agent tests start the real agent with real containers: Linux hosts only (as CI).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
