namespace Portal.Compute.Audit;

/// <summary>The actions the audit trail names: "&lt;target type&gt;.&lt;verb&gt;".</summary>
public static class AuditActions
{
    public const string ContainerCreate = "container.create";
    public const string ContainerStart = "container.start";
    public const string ContainerStop = "container.stop";
    public const string ContainerRestart = "container.restart";
    public const string ContainerTerminate = "container.terminate";
    public const string ContainerKill = "container.kill";
    public const string ContainerRemove = "container.remove";
    public const string ContainerConvert = "container.convert";
    public const string ContainerExec = "container.exec";
    public const string ContainerAttach = "container.attach";
    public const string ImageImport = "image.import";
    public const string ImagePull = "image.pull";
    public const string RegistryLogin = "registry.login";
    public const string ImageTag = "image.tag";
    public const string ImageRemove = "image.remove";
    public const string SwitchCreate = "switch.create";
    public const string SwitchRemove = "switch.remove";
    public const string KeyCreate = "key.create";
    public const string KeyRotate = "key.rotate";
    public const string KeyRevoke = "key.revoke";
    public const string TeamPut = "team.put";
    public const string TeamRemove = "team.remove";

    /// <summary>A request that named a team and user to act for (X-Portal-Team, X-Portal-User) and was refused.</summary>
    public const string ActFor = "auth.act-for";

    /// <summary>Reads that need more than Read scope: recorded only when refused.</summary>
    public const string KeyList = "key.list";
    public const string AuditRead = "audit.read";
    public const string TeamList = "team.list";

    /// <summary>A sign-in (a request or hub connection with a key) that failed: no key, or an unknown, revoked or rotated one.</summary>
    public const string SignIn = "auth.sign-in";

    /// <summary>A team member's docker client certificate (mutual TLS): issued, revoked; listing is recorded only when refused.</summary>
    public const string CertificateIssue = "certificate.issue";
    public const string CertificateRevoke = "certificate.revoke";
    public const string CertificateList = "certificate.list";
}
