using System.Management.Automation;
using System.Threading.Channels;
using Portal.Contracts;
using Portal.PowerShell.Model;

namespace Portal.PowerShell.Cmdlets;

/// <summary>
/// Install-ContainerImage -Name nginx:1.27 [-Credential (Get-Credential)]: pulls an image from its registry onto the
/// agent's host (as the Windows Server 2016 Containers module installed its base images), with a progress record per
/// layer, and emits the image. The credential is the registry's (user name and password or token), sent to the agent for
/// this pull only.
/// </summary>
[Cmdlet(VerbsLifecycle.Install, "ContainerImage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(PortalImage))]
public sealed class InstallContainerImageCommand : PortalCmdlet
{
    /// <summary>"nginx", "library/nginx:1.27", "ghcr.io/org/app@sha256:...", "127.0.0.1:5000/team/app:v2".</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Name, "Install-ContainerImage"))
        {
            return;
        }

        var network = Credential?.GetNetworkCredential();
        var request = new ImagePullRequest { Reference = Name, Username = network?.UserName, Password = network?.Password };
        Try(() =>
        {
            // Progress records may only be written on the pipeline thread: the pull's steps come through a channel.
            var steps = Channel.CreateUnbounded<ImagePullUpdate>(new UnboundedChannelOptions { SingleReader = true });
            var pull = Client.PullImageAsync(request, new Progress(steps.Writer), Cancellation);
            _ = pull.ContinueWith(_ => steps.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var layers = new Dictionary<string, int>(StringComparer.Ordinal);
            var main = new ProgressRecord(1, $"Install-ContainerImage {Name}", "Resolving");
            WriteProgress(main);
            while (Await(steps.Reader.WaitToReadAsync(CancellationToken.None).AsTask()))
            {
                while (steps.Reader.TryRead(out var step))
                {
                    WriteProgress(Record(step, main, layers));
                }
            }

            var image = Await(pull);
            foreach (var id in layers.Values)
            {
                WriteProgress(new ProgressRecord(id, "Layer", "Done") { ParentActivityId = main.ActivityId, RecordType = ProgressRecordType.Completed });
            }

            WriteProgress(new ProgressRecord(main.ActivityId, main.Activity, "Done") { RecordType = ProgressRecordType.Completed });
            WriteObject(PortalImage.From(image, Agent));
        }, Name);
    }

    /// <summary>A layer's step as a child record (its own bar while downloading); the image's steps on the main record.</summary>
    private static ProgressRecord Record(ImagePullUpdate step, ProgressRecord main, Dictionary<string, int> layers)
    {
        if (step.Layer is not { } layer)
        {
            main.StatusDescription = step.Status;
            return main;
        }

        if (!layers.TryGetValue(layer, out var id))
        {
            id = layers[layer] = 2 + layers.Count;
        }

        var record = new ProgressRecord(id, $"Layer {layer}", step.Status) { ParentActivityId = main.ActivityId };
        if (step is { Current: { } current, Total: > 0 and var total })
        {
            record.PercentComplete = (int)Math.Clamp(current * 100 / total, 0, 100);
            record.StatusDescription = $"{step.Status} {current / 1024} of {total / 1024} KiB";
        }

        return record;
    }

    private sealed class Progress(ChannelWriter<ImagePullUpdate> writer) : IProgress<ImagePullUpdate>
    {
        public void Report(ImagePullUpdate value) => writer.TryWrite(value);
    }
}
