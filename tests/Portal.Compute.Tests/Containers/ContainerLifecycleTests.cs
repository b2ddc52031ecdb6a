using Portal.Compute.Containers;
using Portal.Contracts;

namespace Portal.Compute.Tests.Containers;

public sealed class ContainerLifecycleTests
{
    public static TheoryData<ContainerState, ContainerOperation, bool> Table => new()
    {
        { ContainerState.Created, ContainerOperation.Start, true },
        { ContainerState.Running, ContainerOperation.Start, false },
        { ContainerState.Stopping, ContainerOperation.Start, false },
        { ContainerState.Stopped, ContainerOperation.Start, true },
        { ContainerState.Created, ContainerOperation.Stop, false },
        { ContainerState.Running, ContainerOperation.Stop, true },
        { ContainerState.Stopped, ContainerOperation.Stop, false },
        { ContainerState.Running, ContainerOperation.Kill, true },
        { ContainerState.Stopped, ContainerOperation.Kill, false },
        { ContainerState.Running, ContainerOperation.Exec, true },
        { ContainerState.Created, ContainerOperation.Exec, false },
        { ContainerState.Stopped, ContainerOperation.Exec, false },
        { ContainerState.Created, ContainerOperation.Remove, true },
        { ContainerState.Running, ContainerOperation.Remove, false },
        { ContainerState.Stopped, ContainerOperation.Remove, true },
        { ContainerState.Running, ContainerOperation.ForceRemove, true },
        { ContainerState.Stopped, ContainerOperation.Convert, true },
        { ContainerState.Running, ContainerOperation.Convert, false },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Operations_are_allowed_exactly_in_their_states(ContainerState state, ContainerOperation operation, bool allowed)
    {
        Assert.Equal(allowed, ContainerLifecycle.CanApply(state, operation));
        var error = Record.Exception(() => ContainerLifecycle.Ensure(state, operation, "web"));
        if (allowed)
        {
            Assert.Null(error);
        }
        else
        {
            var compute = Assert.IsType<ComputeException>(error);
            Assert.Equal(ComputeErrorCode.InvalidTransition, compute.Code);
            Assert.Contains("'web'", compute.Message);
        }
    }

    [Theory]
    [InlineData(ContainerState.Running, ContainerOperation.Start, "already running")]
    [InlineData(ContainerState.Running, ContainerOperation.Remove, "remove it with force")]
    [InlineData(ContainerState.Stopped, ContainerOperation.Exec, "start it before")]
    [InlineData(ContainerState.Running, ContainerOperation.Convert, "convert with restart")]
    public void Refusals_say_what_to_do_instead(ContainerState state, ContainerOperation operation, string advice) =>
        Assert.Contains(advice, ContainerLifecycle.WhyNot(state, operation, "web"));

    [Fact]
    public void Every_operation_has_a_rule_for_every_state()
    {
        foreach (var op in Enum.GetValues<ContainerOperation>())
        {
            foreach (var state in Enum.GetValues<ContainerState>())
            {
                _ = ContainerLifecycle.CanApply(state, op); // throws KeyNotFoundException for a missing rule
            }
        }
    }
}
