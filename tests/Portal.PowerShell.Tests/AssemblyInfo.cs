// These tests start the real agent with real containers (runc/crun, QEMU): Linux hosts only, as CI.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
