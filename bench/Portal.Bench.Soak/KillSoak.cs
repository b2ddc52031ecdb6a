using System.Text.RegularExpressions;
using Portal.Contracts;

namespace Portal.Bench.Soak;

/// <summary>What one kill found after the restart.</summary>
public sealed record KillRound
{
    public required int Round { get; init; }
    public required string Operation { get; init; }
    public required int DelayMs { get; init; }
    public required bool OperationFinished { get; init; }
    public required IReadOnlyList<string> Problems { get; init; }
}

/// <summary>The kill soak's totals (see <see cref="KillSoak"/>).</summary>
public sealed record KillTotals
{
    public required int Kills { get; init; }
    public required int ContainersLost { get; init; }
    public required int WrongState { get; init; }
    public required int WrongExitCodes { get; init; }
    public required int UnusableContainers { get; init; }
    public required int LinesLost { get; init; }
    public required int LinesRepeated { get; init; }
    public required int LinesChecked { get; init; }
    public required IReadOnlyList<string> Orphans { get; init; }
}

/// <summary>
/// kill -9 at random moments while containers of both isolations tick (one numbered line every 0.2 s), and spare
/// containers are being created, started, converted, stopped and removed, and short-lived ones exit with known codes
/// while no agent watches. After every restart: every ticker is back and running with every line exactly once so far,
/// every exit code is the real one, every container is usable; at the end, nothing is left on the host.
/// </summary>
public sealed class KillSoak(SoakAgent agent, Random random, IReadOnlyList<RuntimeType> runtimes, Action<string> log)
{
    private const string Ticker = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";
    private readonly List<string> _spares = [];
    private readonly Dictionary<string, int> _quitters = new(StringComparer.Ordinal);
    private int _next;

    public List<KillRound> Rounds { get; } = [];

    public async Task<KillTotals> RunAsync(int kills, IReadOnlySet<string> idle, CancellationToken ct)
    {
        var tickers = runtimes.Select((r, i) => (Name: $"ticker-{i}", Runtime: r)).ToList();
        foreach (var (name, runtime) in tickers)
        {
            await agent.CreateAsync(name, runtime, Ticker);
            await agent.StartAsync(name);
        }

        var lost = 0;
        var repeated = 0;
        var checkedLines = 0;
        for (var round = 1; round <= kills; round++)
        {
            ct.ThrowIfCancellationRequested();
            var (operation, work) = NextOperation();
            var delay = random.Next(0, 2500);
            var running = ContainerLife.DiesDuringAsync(agent.Process, work);
            await Task.WhenAny(running, Task.Delay(delay, ct));
            await agent.Process.KillAsync();
            var finished = running.IsCompletedSuccessfully && !running.Result;
            try
            {
                await running;
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException)
            {
                // a refusal before the kill (say, a conversion of a container being removed): the state is checked below all the same
            }

            await Task.Delay(random.Next(0, 1500), ct); // quitters exit and tickers tick while no agent watches
            await agent.RestartAsync();

            var problems = new List<string>();
            var containers = (await agent.ListAsync()).ToDictionary(c => c.Name, StringComparer.Ordinal);
            foreach (var (name, _) in tickers)
            {
                if (!containers.TryGetValue(name, out var ticker))
                {
                    problems.Add($"LOST {name}");
                    continue;
                }

                if (ticker.State != ContainerState.Running)
                {
                    problems.Add($"WRONG STATE {name}: {ticker.State} ({ticker.StopReason})");
                }
            }

            problems.AddRange(await CheckQuittersAsync(containers));
            problems.AddRange(await CheckSparesAsync(containers));
            Rounds.Add(new KillRound { Round = round, Operation = operation, DelayMs = delay, OperationFinished = finished, Problems = problems });
            log($"kill {round,3}/{kills} during {operation,-34} after {delay,4} ms: {(problems.Count == 0 ? "ok" : string.Join("; ", problems))}");
        }

        // Lines: every ticker's log holds tick 0, 1, 2 ... each exactly once, across all the kills.
        foreach (var (name, _) in tickers)
        {
            var ticks = Regex.Matches(await agent.LogsAsync(name), @"tick (\d+)").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            var distinct = ticks.Distinct().Count();
            var expected = ticks.Count == 0 ? 0 : ticks.Max() + 1;
            lost += expected - distinct;
            repeated += ticks.Count - distinct;
            checkedLines += expected;
            log($"{name}: {expected} lines, {expected - distinct} lost, {ticks.Count - distinct} repeated");
        }

        foreach (var container in await agent.ListAsync())
        {
            await agent.RemoveAsync(container.Name);
        }

        var orphans = agent.Process.Sandbox.Snapshot(agent.Process.Pid).Except(idle).ToList();
        var all = Rounds.SelectMany(r => r.Problems).ToList();
        return new KillTotals
        {
            Kills = kills,
            ContainersLost = all.Count(p => p.StartsWith("LOST", StringComparison.Ordinal)),
            WrongState = all.Count(p => p.StartsWith("WRONG STATE", StringComparison.Ordinal)),
            WrongExitCodes = all.Count(p => p.StartsWith("WRONG EXIT", StringComparison.Ordinal)),
            UnusableContainers = all.Count(p => p.StartsWith("UNUSABLE", StringComparison.Ordinal)),
            LinesLost = lost,
            LinesRepeated = repeated,
            LinesChecked = checkedLines,
            Orphans = orphans,
        };
    }

    private RuntimeType AnyRuntime() => runtimes[random.Next(runtimes.Count)];

    private (string Name, Func<Task> Work) NextOperation()
    {
        var choice = _spares.Count == 0 ? 0 : random.Next(5);
        var spare = _spares.Count == 0 ? "" : _spares[random.Next(_spares.Count)];
        switch (choice)
        {
            case 0 when _spares.Count < 4:
                var runtime = AnyRuntime();
                var name = $"spare-{++_next}";
                _spares.Add(name);
                return ($"create and start {name} ({runtime})", async () =>
                {
                    await agent.CreateAsync(name, runtime, "exec sleep 3600");
                    await agent.StartAsync(name);
                });
            case 1 when runtimes.Count > 1:
                return ($"convert {spare}", async () =>
                {
                    var current = (await agent.ListAsync()).Single(c => c.Name == spare);
                    await agent.ConvertAsync(spare, current.RuntimeType == RuntimeType.HyperV ? RuntimeType.Default : RuntimeType.HyperV);
                });
            case 2:
                _spares.Remove(spare);
                return ($"remove {spare}", () => agent.RemoveAsync(spare));
            case 3:
                return ($"stop and start {spare}", async () =>
                {
                    await agent.StopAsync(spare);
                    await agent.StartAsync(spare);
                });
            default:
                var quitter = $"quitter-{++_next}";
                var code = random.Next(1, 120);
                var runtimeOfQuitter = AnyRuntime();
                _quitters[quitter] = code;
                return ($"quitter {quitter} ({runtimeOfQuitter}, exit {code})", async () =>
                {
                    await agent.CreateAsync(quitter, runtimeOfQuitter, $"sleep 1; exit {code}");
                    await agent.StartAsync(quitter);
                });
        }
    }

    /// <summary>A quitter that was started exits with its own code, recorded even when no agent watched it exit.</summary>
    private async Task<IEnumerable<string>> CheckQuittersAsync(Dictionary<string, ContainerInfo> containers)
    {
        var problems = new List<string>();
        foreach (var (name, code) in _quitters.ToList())
        {
            if (!containers.TryGetValue(name, out var quitter))
            {
                _quitters.Remove(name); // killed before it was created: nothing to check
                continue;
            }

            if (quitter.State == ContainerState.Created)
            {
                await agent.StartAsync(name); // killed between create and start
                continue;
            }

            var stopped = quitter.State == ContainerState.Stopped ? quitter : await agent.WaitAsync(name);
            if (stopped.ExitCode != code)
            {
                problems.Add($"WRONG EXIT {name}: {stopped.ExitCode} ({stopped.StopReason}), expected {code}");
            }

            await agent.RemoveAsync(name);
            _quitters.Remove(name);
        }

        return problems;
    }

    /// <summary>Every spare left is usable: a running one runs a command, a stopped one starts.</summary>
    private async Task<IEnumerable<string>> CheckSparesAsync(Dictionary<string, ContainerInfo> containers)
    {
        var problems = new List<string>();
        foreach (var name in _spares.ToList())
        {
            if (!containers.TryGetValue(name, out var spare))
            {
                _spares.Remove(name); // its create did not happen
                continue;
            }

            try
            {
                if (spare.State == ContainerState.Stopping)
                {
                    spare = await agent.WaitAsync(name); // a stop the agent finishes after its restart
                }

                if (spare.State != ContainerState.Running)
                {
                    await agent.StartAsync(name);
                }

                if (await agent.ExecAsync(name, "true") != 0)
                {
                    problems.Add($"UNUSABLE {name}: exec failed");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                problems.Add($"UNUSABLE {name} ({spare.State}, {spare.RuntimeType}): {e.Message}");
                log($"the agent's last output:\n{agent.Process.RecentLog}");
            }
        }

        foreach (var name in containers.Keys.Where(n => n.StartsWith("spare-", StringComparison.Ordinal) && !_spares.Contains(n)))
        {
            await agent.RemoveAsync(name); // its remove did not happen before the kill: finish it
        }

        return problems;
    }
}
