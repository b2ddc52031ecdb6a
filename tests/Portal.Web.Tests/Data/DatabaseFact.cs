using Xunit.Abstractions;
using Xunit.Sdk;

namespace Portal.Web.Tests.Data;

/// <summary>
/// The tests of a data test class (an abstract class with one subclass per database) need root in a subclass marked
/// with this: the PostgreSQL ones start their own server as its own user. Their [DatabaseFact]s and [DatabaseTheory]s are
/// skipped with <see cref="Reason"/> for any other user, while the SQLite subclass's run for everyone.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RootOnlyTestsAttribute : Attribute
{
    public const string Reason = "needs root (starts a PostgreSQL server of its own as user postgres): run ./deploy/portal test as root";

    internal static bool SkipsHere(ITestMethod method) =>
        !RootOnly.IsRoot && method.TestClass.Class.ToRuntimeType().IsDefined(typeof(RootOnlyTestsAttribute), inherit: true);
}

/// <summary>A test of a data test class: runs on each database, root-only in a <see cref="RootOnlyTestsAttribute"/> subclass.</summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Portal.Web.Tests.Data.DatabaseFactDiscoverer", "Portal.Web.Tests")]
public sealed class DatabaseFactAttribute : FactAttribute;

/// <summary>A data-driven test of a data test class (see <see cref="DatabaseFactAttribute"/>).</summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Portal.Web.Tests.Data.DatabaseTheoryDiscoverer", "Portal.Web.Tests")]
public sealed class DatabaseTheoryAttribute : TheoryAttribute;

public sealed class DatabaseFactDiscoverer(IMessageSink diagnostics) : FactDiscoverer(diagnostics)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute) =>
        RootOnlyTestsAttribute.SkipsHere(method) ? [new RootOnlyTestCase(DiagnosticMessageSink, options, method)] : base.Discover(options, method, attribute);
}

public sealed class DatabaseTheoryDiscoverer(IMessageSink diagnostics) : TheoryDiscoverer(diagnostics)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute) =>
        RootOnlyTestsAttribute.SkipsHere(method) ? [new RootOnlyTestCase(DiagnosticMessageSink, options, method)] : base.Discover(options, method, attribute);
}

/// <summary>One skipped test case for a root-only test (a theory's rows are not expanded).</summary>
public sealed class RootOnlyTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public RootOnlyTestCase()
    {
    }

    public RootOnlyTestCase(IMessageSink diagnostics, ITestFrameworkDiscoveryOptions options, ITestMethod method)
        : base(diagnostics, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), method)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) => RootOnlyTestsAttribute.Reason;
}
