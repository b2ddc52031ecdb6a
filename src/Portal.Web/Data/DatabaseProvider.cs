namespace Portal.Web.Data;

/// <summary>Where the portal keeps its state (<see cref="PortalOptions.DatabaseProvider"/>).</summary>
public enum DatabaseProvider
{
    /// <summary>An embedded SQLite file, <see cref="PortalOptions.Database"/>: one portal node.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server named by the connection string <c>ConnectionStrings:Portal</c>: one or several portal nodes.</summary>
    PostgreSQL,
}
