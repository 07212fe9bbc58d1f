using LicenseBroker.Contracts.V1;
using Microsoft.Extensions.Localization;

namespace LicenseBroker.AdminCenter.Components.Shared;

/// <summary>Roles as the forms post them and as the pages name them.</summary>
public static class Roles
{
    public static AgentRole Parse(string value) => value switch
    {
        "ADMIN" => AgentRole.Admin,
        "MANAGER" => AgentRole.Manager,
        "MEMBER" => AgentRole.Member,
        _ => AgentRole.Unspecified, // the broker answers INVALID_ARGUMENT naming the field
    };

    public static string Text(IStringLocalizer localizer, AgentRole role) => role switch
    {
        AgentRole.Admin => localizer["RoleAdmin"],
        AgentRole.Manager => localizer["RoleManager"],
        _ => localizer["RoleMember"],
    };
}
