using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Portal.Contracts;

namespace Portal.Web.Model;

/// <summary>
/// The create switch dialog's fields (New-VMSwitch -Name -SwitchType, docker network create --subnet) and their
/// translation to the agent's <see cref="SwitchCreateSpec"/> with a clear message for each mistake. The agent checks
/// the rest (a taken name, an overlapping subnet, host bits set) and says so.
/// </summary>
public sealed class CreateSwitchForm
{
    public string? Name { get; set; }

    public SwitchType Type { get; set; } = SwitchType.Nat;

    /// <summary>An IPv4 subnet in CIDR form; empty lets the agent pick a free one.</summary>
    public string? Subnet { get; set; }

    /// <summary>The types a caller may create: None is the built-in switch 'none'.</summary>
    public static IReadOnlyList<SwitchType> CreatableTypes { get; } = [SwitchType.Nat, SwitchType.Internal, SwitchType.Private];

    /// <summary>The spec, or the list of what to fix.</summary>
    public (SwitchCreateSpec? Spec, IReadOnlyList<string> Errors) ToSpec()
    {
        var errors = new List<string>();
        var name = Name?.Trim() ?? "";
        if (name.Length == 0)
        {
            errors.Add("Enter a name for the switch, such as lab.");
        }
        else if (name.Length > 64 || !char.IsAsciiLetterOrDigit(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is ' ' or '.' or '_' or '-'))
        {
            errors.Add($"'{name}' is not a switch name: use 1 to 64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.");
        }

        if (!CreatableTypes.Contains(Type))
        {
            errors.Add($"A {Type} switch cannot be created: choose NAT, Internal or Private (the built-in switch 'none' stands for no network).");
        }

        var subnet = string.IsNullOrWhiteSpace(Subnet) ? null : Subnet.Trim();
        if (subnet is not null && SubnetError(subnet) is { } error)
        {
            errors.Add(error);
        }

        return errors.Count > 0 ? (null, errors) : (new SwitchCreateSpec { Name = name, Type = Type, Subnet = subnet }, errors);
    }

    private static string? SubnetError(string subnet)
    {
        var parts = subnet.Split('/');
        if (parts.Length != 2
            || !IPAddress.TryParse(parts[0], out var address) || address.AddressFamily != AddressFamily.InterNetwork || parts[0].Count(c => c == '.') != 3
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            return $"'{subnet}' is not an IPv4 subnet: write it in CIDR form, for example 10.89.5.0/24, or leave it empty to get a free one.";
        }

        return length is < 8 or > 29
            ? $"Subnet '{subnet}' has a /{length.ToString(CultureInfo.InvariantCulture)} prefix: use /8 to /29 (a /29 holds the gateway and five containers)."
            : null;
    }
}
