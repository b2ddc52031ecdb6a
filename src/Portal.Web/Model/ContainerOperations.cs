using System.Collections.Concurrent;
using MudBlazor;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;
using Portal.Web.Hosts;
using Portal.Web.Teams;

namespace Portal.Web.Model;

/// <summary>
/// Runs the commands an agent advertises for a container (commands are data): asks for confirmation where the agent says
/// so, shows progress while the command runs, and shows the agent's own error message when it fails. One per circuit.
/// </summary>
public sealed class ContainerOperations(SessionFleet fleet, IDialogService dialogs, ISnackbar snackbar)
{
    private readonly ConcurrentDictionary<string, string> _running = new();

    /// <summary>Raised when an operation starts or ends, so pages can show or hide its progress.</summary>
    public event Action? Changed;

    /// <summary>What is running for a container now ("Stopping ..."), or null.</summary>
    public string? Progress(string hostId, string containerId) => _running.GetValueOrDefault(Key(hostId, containerId));

    /// <summary>Runs <paramref name="command"/>; returns whether it succeeded (false when refused, cancelled or failed).</summary>
    public async Task<bool> RunAsync(string hostId, ContainerInfo container, ContainerCommand command)
    {
        if (!command.Enabled)
        {
            snackbar.Add(command.DisabledReason ?? $"{command.DisplayName} is not possible now.", Severity.Warning);
            return false;
        }

        if (command.RequiresConfirmation && !await ConfirmAsync(container, command))
        {
            return false;
        }

        return await TrackAsync(hostId, container, $"{Progressive(command)} ...", async client =>
        {
            var id = container.Id;
            switch (command.Name)
            {
                case "start":
                    await client.StartContainerAsync(id, CancellationToken.None);
                    break;
                case "stop":
                    await client.StopContainerAsync(id, null, CancellationToken.None);
                    break;
                case "restart":
                    await client.RestartContainerAsync(id, null, CancellationToken.None);
                    break;
                case "kill":
                    await client.KillContainerAsync(id, 9, CancellationToken.None);
                    break;
                case "remove":
                    await client.RemoveContainerAsync(id, force: true, CancellationToken.None);
                    break;
                case "convert":
                    // Each step the agent reports replaces the row's progress text (the circuit's context keeps them in order).
                    var steps = new Progress<OperationStep>(s => Update(hostId, id, $"{s.Message} (step {s.Step} of {s.Steps})"));
                    var (_, warnings) = await client.ConvertContainerWithWarningsAsync(id, Other(container.RuntimeType), restart: container.State == ContainerState.Running, steps, CancellationToken.None);
                    foreach (var warning in warnings)
                    {
                        snackbar.Add(warning, Severity.Warning); // the team's policy warns (Warn mode) but lets it run
                    }

                    break;
                default:
                    throw new AgentException("NotSupported", $"The portal does not know the command '{command.Name}'; update the portal.");
            }

            snackbar.Add($"{command.DisplayName}: '{container.Name}' done.", Severity.Success);
        });
    }

    /// <summary>Runs any agent call for a container with progress and the agent's error shown on failure.</summary>
    public async Task<bool> TrackAsync(string hostId, ContainerInfo container, string progress, Func<IAgentClient, Task> work)
    {
        var key = Key(hostId, container.Id);
        if (!_running.TryAdd(key, progress))
        {
            snackbar.Add($"'{container.Name}' is busy: {_running.GetValueOrDefault(key)} Wait until it finishes.", Severity.Warning);
            return false;
        }

        Changed?.Invoke();
        try
        {
            var host = fleet.Find(hostId) ?? throw new AgentException("HostNotFound", "That host is no longer registered; reload the page.");
            await work(host.Client);
            return true;
        }
        catch (AgentException e)
        {
            snackbar.Add($"'{container.Name}': {e.Message}", Severity.Error, o => o.RequireInteraction = true);
            return false;
        }
        finally
        {
            _running.TryRemove(key, out _);
            Changed?.Invoke();
        }
    }

    /// <summary>A running operation's new progress text; ignored once the operation has ended.</summary>
    private void Update(string hostId, string containerId, string progress)
    {
        var key = Key(hostId, containerId);
        if (_running.TryGetValue(key, out var current) && _running.TryUpdate(key, progress, current))
        {
            Changed?.Invoke();
        }
    }

    public static RuntimeType Other(RuntimeType runtimeType) => runtimeType == RuntimeType.HyperV ? RuntimeType.Default : RuntimeType.HyperV;

    private async Task<bool> ConfirmAsync(ContainerInfo container, ContainerCommand command)
    {
        var running = container.State == ContainerState.Running;
        var message = command.Name switch
        {
            "remove" => running
                ? $"'{container.Name}' is running: removing stops it and deletes its scratch disk and logs. This cannot be undone."
                : $"Remove '{container.Name}' with its scratch disk and logs? This cannot be undone.",
            "kill" => $"Kill '{container.Name}' with SIGKILL? Its processes end at once, without cleaning up.",
            "convert" => $"'{container.Name}' is running: converting to {Other(container.RuntimeType)} restarts it. Its disks stay as they are.",
            _ => $"{command.DisplayName} '{container.Name}'?",
        };
        var answer = await dialogs.ShowMessageBoxAsync($"{command.DisplayName} '{container.Name}'?", message, yesText: command.DisplayName, cancelText: "Cancel");
        return answer == true;
    }

    private static string Progressive(ContainerCommand command) => command.Name switch
    {
        "start" => "Starting",
        "stop" => "Stopping",
        "restart" => "Restarting",
        "kill" => "Killing",
        "remove" => "Removing",
        "convert" => command.DisplayName.Replace("Convert", "Converting", StringComparison.Ordinal),
        _ => command.DisplayName,
    };

    private static string Key(string hostId, string containerId) => $"{hostId}/{containerId}";
}
