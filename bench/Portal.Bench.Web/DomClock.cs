using Microsoft.Playwright;

namespace Portal.Bench.Web;

/// <summary>
/// Watches the containers grid in one browser page: armed for a container name and a state, it stamps (with the page's
/// clock, the same system clock as the agent's) the first DOM mutation after which that container's row shows the state.
/// </summary>
public sealed class DomClock(IPage page)
{
    private const string Script = """
        () => {
            if (window.__portalBench) { return; }
            const pending = new Map();
            const promises = new Map();
            const stateOf = name => {
                for (const row of document.querySelectorAll('tr.container-row')) {
                    const link = row.querySelector('a');
                    if (link && link.textContent.trim() === name) {
                        return row.querySelector('[data-state]')?.getAttribute('data-state') ?? null;
                    }
                }
                return null;
            };
            const check = () => {
                for (const [name, entry] of pending) {
                    if (stateOf(name) === entry.state) {
                        pending.delete(name);
                        entry.resolve(performance.timeOrigin + performance.now());
                    }
                }
            };
            new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
            window.__portalBench = {
                arm: (name, state) => {
                    const entry = { state };
                    promises.set(name, new Promise(resolve => { entry.resolve = resolve; }));
                    pending.set(name, entry);
                },
                armed: name => promises.get(name),
                state: stateOf,
            };
        }
        """;

    public async Task InstallAsync() => await page.EvaluateAsync(Script);

    /// <summary>Arms the watch before the command that causes the change is sent.</summary>
    public async Task<Func<Task<double>>> ArmAsync(string name, string state)
    {
        await page.EvaluateAsync("([name, state]) => { window.__portalBench.arm(name, state); }", new[] { name, state });
        return async () => await page.EvaluateAsync<double>("name => window.__portalBench.armed(name)", name);
    }

    public async Task<string?> StateAsync(string name) => await page.EvaluateAsync<string?>("name => window.__portalBench.state(name)", name);
}
