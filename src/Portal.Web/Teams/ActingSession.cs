using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Portal.Client;
using Portal.Contracts;
using Portal.Web.Account;

namespace Portal.Web.Teams;

/// <summary>
/// Who a circuit's user acts as: a portal administrator acts as the portal (the hosts' administrator keys, as before);
/// anyone else acts for one of their teams, picked in the app bar and remembered per user, as that team's member
/// (<see cref="Actor"/>). One per circuit; <see cref="SessionFleet"/> connects to the hosts accordingly.
/// It follows the circuit's user: when revalidation turns it anonymous (disabled, demoted, deleted, a new password), the
/// session acts for no one and is no administrator, whatever stays rendered in a circuit whose client ignores the
/// redirect to the sign-in page (an open dialog, a pending confirmation).
/// </summary>
public sealed class ActingSession(AuthenticationStateProvider authentication, TeamDirectory directory, ILoggerFactory loggers) : IDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<ActingSession>();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Task? _loaded;

    /// <summary>Raised after the acting team or the user's teams changed.</summary>
    public event Action? Changed;

    public ClaimsPrincipal User { get; private set; } = new();

    public string? UserName => User.Identity?.Name;

    /// <summary>A portal administrator (acts as the portal, sees every container).</summary>
    public bool IsAdministrator { get; private set; }

    /// <summary>True once the user and their teams are known.</summary>
    public bool IsLoaded { get; private set; }

    /// <summary>The user's teams (empty for administrators, who act outside teams).</summary>
    public IReadOnlyList<Membership> Memberships { get; private set; } = [];

    /// <summary>The team the user acts for now, or null (an administrator, or a user in no team).</summary>
    public Membership? Acting { get; private set; }

    /// <summary>The team member the agents are told about (administrator key plus team and user), or null for an administrator.</summary>
    public TeamActor? Actor => Acting is { } acting && UserName is { } user ? new TeamActor(acting.Team, user) : null;

    /// <summary>
    /// Loads the user and their teams once (again after <see cref="ReloadAsync"/>). When the circuit's user is already known
    /// (it is, on a server circuit), whether it is an administrator is known before the first await.
    /// </summary>
    public Task LoadAsync()
    {
        if (_loaded is null)
        {
            // A membership changed anywhere (a role, a removal, a deleted team): this user's teams are read again.
            directory.Changed += OnDirectoryChanged;
            // The circuit's user changed (revalidation made it anonymous): so does who this session acts as.
            authentication.AuthenticationStateChanged += OnAuthenticationStateChanged;
            _loaded = LoadCoreAsync();
        }

        return _loaded;
    }

    public void Dispose()
    {
        directory.Changed -= OnDirectoryChanged;
        authentication.AuthenticationStateChanged -= OnAuthenticationStateChanged;
    }

    /// <summary>Loads the user's teams again (a membership changed).</summary>
    public Task ReloadAsync()
    {
        _loaded = LoadCoreAsync();
        return _loaded;
    }

    /// <summary>
    /// Acts for <paramref name="team"/> from now on (one of the user's teams) and remembers the choice. The membership is
    /// read from the database now, not from the list this circuit read earlier, so a removal a moment ago counts.
    /// </summary>
    public async Task SelectAsync(string team)
    {
        Membership? membership;
        await _gate.WaitAsync();
        try
        {
            var memberships = !IsAdministrator && User.Identity?.IsAuthenticated == true && UserName is { } user
                ? await directory.MembershipsAsync(user, CancellationToken.None)
                : [];
            Memberships = memberships;
            membership = memberships.FirstOrDefault(m => m.Team == team);
            if (membership is not null)
            {
                await directory.SetActingTeamAsync(UserName!, team, CancellationToken.None);
                Acting = membership;
            }
            else
            {
                Acting = memberships.FirstOrDefault(m => m.Team == Acting?.Team) ?? memberships.FirstOrDefault();
            }
        }
        finally
        {
            _gate.Release();
        }

        Changed?.Invoke();
        if (membership is null)
        {
            throw new ArgumentException($"You are not a member of team '{team}': pick one of yours ({string.Join(", ", Memberships.Select(m => m.Team))}).", nameof(team));
        }
    }

    private void OnDirectoryChanged(string team, bool deleted)
    {
        if (IsLoaded && !IsAdministrator)
        {
            Reload();
        }
    }

    private void OnAuthenticationStateChanged(Task<AuthenticationState> state) => Reload();

    private void Reload() =>
        _ = ReloadAsync().ContinueWith(t => _logger.LogError(t.Exception, "Could not reload the teams of {User}", UserName), TaskContinuationOptions.OnlyOnFaulted);

    private async Task LoadCoreAsync()
    {
        var state = await authentication.GetAuthenticationStateAsync();
        await _gate.WaitAsync();
        try
        {
            User = state.User;
            var signedIn = User.Identity?.IsAuthenticated == true;
            IsAdministrator = signedIn && PortalRoles.IsAdministrator(User);
            if (signedIn && !IsAdministrator && UserName is { } user)
            {
                Memberships = await directory.MembershipsAsync(user, CancellationToken.None);
                var remembered = await directory.GetActingTeamAsync(user, CancellationToken.None);
                Acting = Memberships.FirstOrDefault(m => m.Team == remembered) ?? Memberships.FirstOrDefault();
            }
            else
            {
                Memberships = [];
                Acting = null;
            }

            IsLoaded = true;
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Could not load the teams of {User}", UserName);
            throw;
        }
        finally
        {
            _gate.Release();
        }

        Changed?.Invoke();
    }
}
