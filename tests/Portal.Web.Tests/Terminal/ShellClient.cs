using System.Runtime.CompilerServices;
using System.Text;
using Portal.Client;
using Portal.Contracts;
using Portal.Contracts.Hub;

namespace Portal.Web.Tests.Terminal;

/// <summary>
/// A hand-written agent client with only an exec: a pretend shell that echoes each input as "you typed: ...", reports
/// resizes as "size COLSxROWS", and exits with code 3 when stdin closes or it reads "exit". Every other call is refused.
/// </summary>
public sealed class ShellClient : IAgentClient
{
    public AgentEndpoint Endpoint { get; } = AgentEndpoint.Parse("http://127.0.0.1:5081", "pk_test_key");

    public ExecStart? Started { get; private set; }

    /// <summary>Makes the exec fail as the agent would (for example ContainerNotFound).</summary>
    public AgentException? Failure { get; set; }

    /// <summary>Never raised: the pretend connection does not drop.</summary>
    public event Func<Exception?, Task>? Closed
    {
        add { }
        remove { }
    }

    public async IAsyncEnumerable<ProcessOutput> ExecAsync(string container, ExecStart start, IAsyncEnumerable<ProcessInput> input, [EnumeratorCancellation] CancellationToken ct)
    {
        Started = start;
        if (Failure is { } failure)
        {
            throw failure;
        }

        yield return Output($"{container}$ ");
        await foreach (var message in input.WithCancellation(ct))
        {
            if (message.Columns is { } columns)
            {
                yield return Output($"size {columns}x{message.Rows}");
            }

            if (message.Data is { } data)
            {
                var text = Encoding.UTF8.GetString(data);
                if (text == "exit\r")
                {
                    break;
                }

                yield return Output($"you typed: {text}");
            }
        }

        yield return new ProcessOutput { ExitCode = 3 };
    }

    public Task ConnectAsync(CancellationToken ct) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ProcessOutput Output(string text) => new() { Stream = LogStream.Stdout, Data = Encoding.UTF8.GetBytes(text) };

    private static NotSupportedException Refused([CallerMemberName] string method = "") => new($"The shell fake has no {method}.");

    public IAsyncEnumerable<ChangeBatch<ContainerView>> SubscribeContainersAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ChangeBatch<ComputeSystemInfo>> SubscribeComputeSystemsAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<HostInfo> SubscribeHostAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ContainerEvent> SubscribeEventsAsync(CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<IsolationView> SubscribeProcessesAsync(string container, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<LogEntry> LogsAsync(string container, int? tail, bool follow, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ContainerView>> ListContainersAsync(CancellationToken ct) => throw Refused();

    public Task<ContainerView> GetContainerAsync(string container, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ContainerProcessInfo>> GetProcessesAsync(string container, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ComputeSystemInfo>> ListComputeSystemsAsync(CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> CreateContainerAsync(ContainerCreateSpec spec, CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> StartContainerAsync(string container, CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> StopContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) => throw Refused();

    public Task KillContainerAsync(string container, int signal, CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> TerminateContainerAsync(string container, CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> RestartContainerAsync(string container, double? timeoutSeconds, CancellationToken ct) => throw Refused();

    public Task RemoveContainerAsync(string container, bool force, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<IReadOnlyList<SwitchInfo>> SubscribeSwitchesAsync(CancellationToken ct) => throw Refused();

    public Task<ContainerInfo> ConvertContainerAsync(string container, RuntimeType runtimeType, bool restart, IProgress<OperationStep>? progress, CancellationToken ct) => throw Refused();

    public IAsyncEnumerable<ProcessOutput> AttachAsync(string container, IAsyncEnumerable<ProcessInput> input, CancellationToken ct) => throw Refused();

    public Task<HostInfo> GetHostAsync(CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<HostProcessInfo>> GetHostProcessesAsync(string? match, CancellationToken ct) => throw Refused();

    public Task<ContainerStatistics> GetStatisticsAsync(string container, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyDictionary<string, ContainerStatistics>> GetAllStatisticsAsync(CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ImageInfo>> ListImagesAsync(CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<ImageInfo>> ImportImageAsync(Stream archive, long? length, string? tag, IProgress<long>? progress, CancellationToken ct) => throw Refused();

    public Task<ImageInfo> PullImageAsync(ImagePullRequest request, IProgress<ImagePullUpdate>? progress, CancellationToken ct) => throw Refused();

    public Task RemoveImageAsync(string image, CancellationToken ct) => throw Refused();

    public Task<IReadOnlyList<SwitchInfo>> ListSwitchesAsync(CancellationToken ct) => throw Refused();

    public Task<SwitchInfo> CreateSwitchAsync(SwitchCreateSpec spec, CancellationToken ct) => throw Refused();

    public Task RemoveSwitchAsync(string name, CancellationToken ct) => throw Refused();

    public Task<TeamInfo> PutTeamAsync(TeamInfo team, CancellationToken ct) => throw Refused();

    public Task RemoveTeamAsync(string team, CancellationToken ct) => throw Refused();

    public Task<TeamUsage> GetTeamUsageAsync(string team, CancellationToken ct) => throw Refused();
}
