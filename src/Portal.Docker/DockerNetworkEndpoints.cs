using Microsoft.AspNetCore.Mvc;
using Portal.Compute;
using Portal.Contracts;

namespace Portal.Docker;

/// <summary>
/// docker network ls/create/inspect/rm on the agent's virtual switches. Drivers: bridge = a NAT switch (with --internal
/// an Internal one), private = a Private switch, null = the built-in none. connect/disconnect and prune are 501.
/// </summary>
internal static class DockerNetworkEndpoints
{
    public const string TypeOption = "io.portal.switch.type";

    public static void MapDockerNetworks(this IEndpointRouteBuilder app)
    {
        app.MapGet("/networks", ListAsync);
        app.MapPost("/networks/create", CreateAsync);
        app.MapGet("/networks/{id}", InspectAsync);
        app.MapDelete("/networks/{id}", RemoveAsync);
    }

    private static async Task ListAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var filters = DockerContainerEndpoints.ParseFilters(DockerQuery.String(http, "filters"));
        var networks = host.Switches.ListSwitches().Select(View).Where(n =>
            (!filters.TryGetValue("name", out var names) || names.Any(x => n.Name.Contains(x, StringComparison.OrdinalIgnoreCase))) &&
            (!filters.TryGetValue("id", out var ids) || ids.Any(x => n.Id.StartsWith(x, StringComparison.OrdinalIgnoreCase))) &&
            (!filters.TryGetValue("driver", out var drivers) || drivers.Contains(n.Driver, StringComparer.Ordinal)))
            .ToList();
        await DockerJson.WriteAsync(http, networks).ConfigureAwait(false);
    }

    private static async Task InspectAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var name = DockerQuery.Route(http, "id");
        SwitchInfo sw;
        try
        {
            sw = host.Switches.GetSwitch(name);
        }
        catch (ComputeException e) when (e.Code == ComputeErrorCode.SwitchNotFound)
        {
            // The message docker inspect looks for to go on to the next kind of object.
            throw new DockerApiException(StatusCodes.Status404NotFound, $"network {name} not found");
        }

        await DockerJson.WriteAsync(http, View(sw)).ConfigureAwait(false);
    }

    private static async Task CreateAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        var request = await DockerJson.ReadBodyAsync<DockerNetworkCreateRequest>(http).ConfigureAwait(false);
        var type = (request.Driver ?? "bridge") switch
        {
            "" or "bridge" => request.Internal == true ? SwitchType.Internal : SwitchType.Nat,
            "private" => SwitchType.Private,
            var driver => throw DockerApiException.BadParameter($"network driver \"{driver}\" is not supported by this engine: use bridge (a NAT switch; --internal for an Internal one) or private"),
        };
        if (request.Options?.TryGetValue(TypeOption, out var named) == true && named is not null)
        {
            type = Enum.TryParse<SwitchType>(named, ignoreCase: true, out var t) && t != SwitchType.None
                ? t
                : throw DockerApiException.BadParameter($"invalid {TypeOption} \"{named}\": use Nat, Internal or Private");
        }

        if (request.EnableIPv6 == true)
        {
            throw DockerApiException.BadParameter("IPv6 networks are not supported by this engine");
        }

        var configs = request.IPAM?.Config ?? [];
        if (configs.Count > 1 || configs.Any(c => !string.IsNullOrEmpty(c.Gateway) || !string.IsNullOrEmpty(c.IPRange)))
        {
            throw DockerApiException.BadParameter("this engine takes one IPAM subnet per network (--subnet); the gateway is always the subnet's first address and ranges are not supported");
        }

        var created = await host.Switches.CreateSwitchAsync(
            new SwitchCreateSpec { Name = DockerCreateMapper.NoNul(request.Name ?? "", "Name"), Type = type, Subnet = configs.FirstOrDefault()?.Subnet },
            http.RequestAborted).ConfigureAwait(false);
        await DockerJson.WriteAsync(http, new DockerNetworkCreateResponse(created.Id, ""), StatusCodes.Status201Created).ConfigureAwait(false);
    }

    private static async Task RemoveAsync(HttpContext http, [FromServices] IComputeHost host)
    {
        await host.Switches.RemoveSwitchAsync(DockerQuery.Route(http, "id"), http.RequestAborted).ConfigureAwait(false);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public static string Driver(SwitchType type) => type switch
    {
        SwitchType.Nat or SwitchType.Internal => "bridge",
        SwitchType.Private => "private",
        _ => "null",
    };

    private static DockerNetwork View(SwitchInfo sw)
    {
        var prefix = sw.Subnet is { } subnet ? subnet[(subnet.IndexOf('/', StringComparison.Ordinal) + 1)..] : null;
        return new DockerNetwork
        {
            Name = sw.Name,
            Id = sw.Id,
            Created = DockerFormat.Time(sw.CreatedAt),
            Driver = Driver(sw.Type),
            Internal = sw.Type is SwitchType.Internal or SwitchType.Private,
            IPAM = new DockerIpam("default", sw.Subnet is null ? [] : [new DockerIpamConfig { Subnet = sw.Subnet, Gateway = sw.Gateway }], new Dictionary<string, string>()),
            Containers = sw.Containers.ToDictionary(c => c.ContainerId, c => new DockerNetworkEndpoint(c.ContainerName, c.ContainerId, c.MacAddress ?? "", c.IpAddress is null ? "" : $"{c.IpAddress}/{prefix}", "")),
            Options = sw.Bridge is null
                ? new Dictionary<string, string> { [TypeOption] = sw.Type.ToString() }
                : new Dictionary<string, string> { [TypeOption] = sw.Type.ToString(), ["com.docker.network.bridge.name"] = sw.Bridge },
        };
    }
}

public sealed record DockerNetworkCreateRequest
{
    public string? Name { get; init; }
    public string? Driver { get; init; }
    public bool? Internal { get; init; }
    public bool? EnableIPv6 { get; init; }
    public DockerIpamRequest? IPAM { get; init; }
    public IReadOnlyDictionary<string, string?>? Options { get; init; }
}

public sealed record DockerIpamRequest
{
    public IReadOnlyList<DockerIpamConfig>? Config { get; init; }
}

public sealed record DockerIpamConfig
{
    public string? Subnet { get; init; }
    public string? Gateway { get; init; }
    public string? IPRange { get; init; }
}

public sealed record DockerNetworkCreateResponse(string Id, string Warning);

public sealed record DockerIpam(string Driver, IReadOnlyList<DockerIpamConfig> Config, IReadOnlyDictionary<string, string> Options);

public sealed record DockerNetworkEndpoint(string Name, string EndpointID, string MacAddress, string IPv4Address, string IPv6Address);

public sealed record DockerNetwork
{
    public required string Name { get; init; }
    public required string Id { get; init; }
    public required string Created { get; init; }
    public string Scope { get; init; } = "local";
    public required string Driver { get; init; }
    public bool EnableIPv6 { get; init; }
    public required DockerIpam IPAM { get; init; }
    public required bool Internal { get; init; }
    public bool Attachable { get; init; }
    public bool Ingress { get; init; }
    public required IReadOnlyDictionary<string, DockerNetworkEndpoint> Containers { get; init; }
    public required IReadOnlyDictionary<string, string> Options { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}
