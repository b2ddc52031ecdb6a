@{
    RootModule        = 'Portal.PowerShell.psm1'
    NestedModules     = @('Portal.PowerShell.dll')
    ModuleVersion     = '1.0.0'
    GUID              = '5d0f3c1e-6a52-4a7e-9a51-0f3f8c2b7e41'
    Author            = 'Portal'
    Description       = 'Containers at two isolation levels (process: Default, VM: HyperV) through the portal agent: New-, Get-, Set-, Start-, Stop-, Remove-Container, Get-ComputeProcess, Get-ContainerProcess, Enter-PSSession -ContainerId.'
    PowerShellVersion = '7.4'
    FormatsToProcess  = @('Portal.PowerShell.format.ps1xml')
    CmdletsToExport   = @('New-Container', 'Get-Container', 'Set-Container', 'Start-Container', 'Stop-Container', 'Remove-Container', 'Get-ComputeProcess', 'Get-ContainerProcess', 'Enter-ContainerSession', 'Get-VMSwitch', 'New-VMSwitch', 'Remove-VMSwitch', 'Install-ContainerImage', 'Connect-PortalAgent', 'Disconnect-PortalAgent')
    FunctionsToExport = @('Enter-PSSession')
    AliasesToExport   = @()
    VariablesToExport = @()
}
