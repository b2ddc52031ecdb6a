using Portal.Web.Data;

namespace Portal.Web.Tests.Data;

/// <summary>A database of its own for one test: a temporary SQLite file, or a database on <see cref="PostgreSqlServer"/>; removed on dispose.</summary>
public abstract class TestDatabase : IAsyncDisposable
{
    public abstract PortalStorage Storage { get; }

    /// <summary>Command-line configuration naming this database, as the portal's command modes take it.</summary>
    public abstract string[] Arguments { get; }

    /// <summary>Configuration naming a database of the same provider that does not exist.</summary>
    public abstract string[] MissingArguments { get; }

    /// <summary>An empty temporary SQLite file in a directory of its own.</summary>
    public static TestDatabase Sqlite() => new SqliteFile();

    public abstract ValueTask DisposeAsync();

    private sealed class SqliteFile : TestDatabase
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("portal-db-tests-").FullName;

        public override PortalStorage Storage => PortalStorage.Sqlite(Path.Combine(_directory, "portal.db"));

        public override string[] Arguments => [$"--Portal:Database={Storage.SqliteFile}"];

        public override string[] MissingArguments => [$"--Portal:Database={Path.Combine(_directory, "none.db")}"];

        public override ValueTask DisposeAsync()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_directory, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}
