using Microsoft.Extensions.Logging;

namespace Portal.Compute.Linux.ProcessIsolation;

/// <summary>
/// AppArmor on this host, as Docker and Podman use it: where it is enabled, every process-isolated container runs
/// under the generated <see cref="AppArmorProfile.DefaultName"/> profile (loaded once with apparmor_parser) unless
/// it names another loaded profile; where it is not, containers run without one and the reason is logged once.
/// </summary>
internal sealed class AppArmorHost
{
    /// <summary>Loads a profile's text into the kernel: apparmor_parser -Kr, reading the profile from stdin.</summary>
    public delegate Task<HostCommand.Result> ProfileLoader(string profileText, CancellationToken ct);

    private readonly string _sysRoot;
    private readonly string _etcRoot;
    private readonly ProfileLoader _loader;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _loadGate = new(1, 1);
    private bool _loaded;

    public AppArmorHost(ILogger logger, string sysRoot = "/sys", string etcRoot = "/etc", ProfileLoader? loader = null)
    {
        _logger = logger;
        _sysRoot = sysRoot;
        _etcRoot = etcRoot;
        _loader = loader ?? LoadWithParserAsync;
        DisabledReason = FindDisabledReason();
        if (DisabledReason is null)
        {
            _logger.LogInformation("AppArmor is enabled: process-isolated containers run under the {Profile} profile", AppArmorProfile.DefaultName);
        }
        else
        {
            _logger.LogInformation("Process-isolated containers run without an AppArmor profile: {Reason}", DisabledReason);
        }
    }

    /// <summary>Why containers get no AppArmor profile here; null when AppArmor is enabled.</summary>
    public string? DisabledReason { get; }

    public bool Enabled => DisabledReason is null;

    /// <summary>
    /// The names of the profiles loaded in enforce mode (securityfs apparmor/profiles: "name (mode)" per line): a profile in
    /// complain, kill-free or unconfined mode confines nothing, so naming one must not get around the rule against
    /// apparmor=unconfined.
    /// </summary>
    public IReadOnlySet<string> EnforcedProfiles()
    {
        var path = Path.Combine(_sysRoot, "kernel", "security", "apparmor", "profiles");
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return names;
        }

        foreach (var line in File.ReadLines(path))
        {
            var end = line.LastIndexOf(" (", StringComparison.Ordinal);
            if (end > 0 && line.AsSpan(end).SequenceEqual(" (enforce)"))
            {
                names.Add(line[..end]);
            }
        }

        return names;
    }

    /// <summary>The profile a container's processes run under: its own (checked at create), the default (loaded now if need be), or none where AppArmor is off.</summary>
    public async Task<string?> ProfileForAsync(string? requested, CancellationToken ct)
    {
        if (!Enabled)
        {
            return null;
        }

        if (requested is not null && requested != AppArmorProfile.DefaultName)
        {
            return requested;
        }

        await EnsureDefaultLoadedAsync(ct).ConfigureAwait(false);
        return AppArmorProfile.DefaultName;
    }

    private async Task EnsureDefaultLoadedAsync(CancellationToken ct)
    {
        await _loadGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_loaded)
            {
                return;
            }

            var text = AppArmorProfile.Generate(
                AppArmorProfile.DefaultName,
                tunables: File.Exists(Path.Combine(_etcRoot, "apparmor.d", "tunables", "global")),
                baseAbstraction: File.Exists(Path.Combine(_etcRoot, "apparmor.d", "abstractions", "base")));
            var result = await _loader(text, ct).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                // Fail closed: a container never starts unconfined on a host that has AppArmor.
                throw new ComputeException(ComputeErrorCode.RuntimeFailure, $"AppArmor is enabled but the {AppArmorProfile.DefaultName} profile could not be loaded: {(result.Error + result.Output).Trim()}. Install apparmor (apparmor_parser) or fix the error above.");
            }

            _loaded = true;
            _logger.LogInformation("Loaded the {Profile} AppArmor profile", AppArmorProfile.DefaultName);
        }
        finally
        {
            _loadGate.Release();
        }
    }

    private string? FindDisabledReason()
    {
        var enabled = Path.Combine(_sysRoot, "module", "apparmor", "parameters", "enabled");
        try
        {
            if (!File.Exists(enabled) || File.ReadAllText(enabled).Trim() != "Y")
            {
                return $"AppArmor is not enabled in this kernel ({enabled} is not Y)";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot read {enabled}: {e.Message}";
        }

        if (!Directory.Exists(Path.Combine(_sysRoot, "kernel", "security", "apparmor")))
        {
            return "securityfs is not mounted (no /sys/kernel/security/apparmor)";
        }

        return null;
    }

    private static Task<HostCommand.Result> LoadWithParserAsync(string profileText, CancellationToken ct) =>
        OciRuntime.Which("apparmor_parser") is { } parser
            ? HostCommand.RunAsync(parser, ["-Kr"], ct, stdin: profileText)
            : Task.FromResult(new HostCommand.Result(127, "", "apparmor_parser is not installed"));
}
