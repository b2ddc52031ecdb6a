using Portal.Tests.Shared;

namespace Portal.Compute.Tests.Integration;

/// <summary>What a killed test run left behind is cleaned by the next run, and a live run's sandbox is left alone.</summary>
[Trait("Requires", "root")]
public sealed class SandboxTests
{
    [RootFact]
    public void A_sandbox_whose_process_is_gone_is_cleaned_and_a_live_one_is_kept()
    {
        var live = new TestSandbox("portal-sbtest");
        var stale = "portal-sbtest-" + Guid.NewGuid().ToString("N")[..8];
        var cgroup = $"/sys/fs/cgroup/pids/{stale}";
        try
        {
            Directory.CreateDirectory($"/run/{stale}/state");
            File.WriteAllText($"/run/{stale}/owner", "2147483646 1"); // no such process
            Directory.CreateDirectory($"/tmp/{stale}/state/containers");
            Directory.CreateDirectory(cgroup);
            // An agent the killed run started: its sandbox is named only in its environment.
            var psi = new System.Diagnostics.ProcessStartInfo("sleep", "300");
            psi.Environment["Compute__RunRoot"] = $"/run/{stale}";
            using var orphan = System.Diagnostics.Process.Start(psi)!;

            Assert.True(TestSandbox.CleanStale() >= 1);

            Assert.True(orphan.WaitForExit(5000), "the orphaned agent of the stale sandbox still runs");

            Assert.False(Directory.Exists($"/run/{stale}"));
            Assert.False(Directory.Exists($"/tmp/{stale}"));
            Assert.False(Directory.Exists(cgroup));
            Assert.True(File.Exists(Path.Combine(live.RunRoot, "owner")), "the live sandbox was cleaned");
        }
        finally
        {
            live.Clean();
            foreach (var dir in new[] { $"/run/{stale}", $"/tmp/{stale}" }.Where(Directory.Exists))
            {
                Directory.Delete(dir, recursive: true);
            }

            if (Directory.Exists(cgroup))
            {
                Directory.Delete(cgroup);
            }
        }
    }
}
