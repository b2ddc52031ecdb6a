# Enter-PSSession as a proxy of the built-in cmdlet: -ContainerId opens a shell in a portal container
# (Enter-ContainerSession); every other parameter set goes to Microsoft.PowerShell.Core\Enter-PSSession unchanged.
# The proxy is generated from the built-in's own metadata at import, so its parameter sets stay exactly PowerShell's.

$builtIn = Get-Command -Name 'Microsoft.PowerShell.Core\Enter-PSSession' -CommandType Cmdlet
$metadata = [System.Management.Automation.CommandMetadata]::new($builtIn)
$parameters = [System.Management.Automation.ProxyCommand]::GetParamBlock($metadata)
if (-not $metadata.Parameters.ContainsKey('ContainerId')) {
    $parameters += ",`n    [Parameter(Mandatory = `$true, ParameterSetName = 'ContainerId', ValueFromPipelineByPropertyName = `$true)] [string] `${ContainerId}"
}
if (-not $metadata.Parameters.ContainsKey('RunAsAdministrator')) {
    $parameters += ",`n    [Parameter(ParameterSetName = 'ContainerId')] [switch] `${RunAsAdministrator}"
}
# The agent to reach for -ContainerId (defaults as for every cmdlet of the module) and the shell to run.
$parameters += ",`n    [Parameter(ParameterSetName = 'ContainerId')] [ValidateNotNullOrEmpty()] [string] `${AgentUri}"
$parameters += ",`n    [Parameter(ParameterSetName = 'ContainerId')] [ValidateNotNullOrEmpty()] [string] `${ApiKey}"
$parameters += ",`n    [Parameter(ParameterSetName = 'ContainerId')] [ValidateNotNullOrEmpty()] [string[]] `${Shell}"

$body = @"
$([System.Management.Automation.ProxyCommand]::GetCmdletBindingAttribute($metadata))
param(
$parameters
)
begin {
    if (`$PSCmdlet.ParameterSetName -eq 'ContainerId') {
        `$forward = @{}
        foreach (`$name in 'ContainerId', 'RunAsAdministrator', 'AgentUri', 'ApiKey', 'Shell') {
            if (`$PSBoundParameters.ContainsKey(`$name)) { `$forward[`$name] = `$PSBoundParameters[`$name] }
        }
        foreach (`$name in [System.Management.Automation.Cmdlet]::CommonParameters) {
            if (`$PSBoundParameters.ContainsKey(`$name)) { `$forward[`$name] = `$PSBoundParameters[`$name] }
        }
        `$command = { & 'Portal.PowerShell\Enter-ContainerSession' @forward }
    }
    else {
        `$command = { & 'Microsoft.PowerShell.Core\Enter-PSSession' @PSBoundParameters }
    }
    `$steppablePipeline = `$command.GetSteppablePipeline(`$MyInvocation.CommandOrigin)
    `$steppablePipeline.Begin(`$PSCmdlet)
}
process { `$steppablePipeline.Process(`$_) }
end { `$steppablePipeline.End() }
"@

Set-Item -Path 'function:script:Enter-PSSession' -Value ([scriptblock]::Create($body))
Remove-Variable -Name builtIn, metadata, parameters, body
Export-ModuleMember -Function 'Enter-PSSession' -Cmdlet '*'
