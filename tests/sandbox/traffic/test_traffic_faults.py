"""Injected faults show up in the metrics and alarms the way a real incident would.

The EKS alarms here are created the way phase 3 creates them: on the EKS target group's
own ALB metrics, with short sandbox periods.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from world_helpers import FakeClock, dimension

from flexmigrate.sandbox.traffic import TrafficSimulator
from flexmigrate.sandbox.world import World


def run(simulator: TrafficSimulator, clock: FakeClock, seconds: float, step: float = 1.0) -> None:
    for _ in range(round(seconds / step)):
        clock.now += step
        simulator.tick()


def create_eks_alarm(
    clients: Callable[[str], Any],
    world: World,
    target_group: str,
    name: str,
    metric: str,
    threshold: float,
    period: int = 10,
    evaluation_periods: int = 1,
    **statistic: str,
) -> None:
    clients("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName=metric,
        Dimensions=[
            {"Name": "LoadBalancer", "Value": dimension(world.alb_arn, "loadbalancer")},
            {"Name": "TargetGroup", "Value": dimension(target_group, "targetgroup")},
        ],
        Period=period,
        EvaluationPeriods=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        **(statistic or {"Statistic": "Sum"}),
    )


def alarm(clients: Callable[[str], Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = clients("cloudwatch").describe_alarms(AlarmNames=[name])[
        "MetricAlarms"
    ][0]
    return found


def test_eks_5xx_starts_at_the_given_share_and_trips_the_alarm(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    create_eks_alarm(
        clients, world, eks_target_group, "flexdesk-eks-5xx", "HTTPCode_Target_5XX_Count", 5
    )
    simulator, _ = make_simulator("eks-5xx=0.2@25", interval=2.0)
    set_weights(90, 10)
    run(simulator, clock, 20, step=2.0)
    assert datapoints("HTTPCode_Target_5XX_Count", eks_target_group) == {}
    assert alarm(clients, "flexdesk-eks-5xx")["StateValue"] == "OK"

    set_weights(75, 25)
    shifted = clock.now
    run(simulator, clock, 20, step=2.0)
    errors = datapoints("HTTPCode_Target_5XX_Count", eks_target_group)
    assert min(errors) == shifted
    assert set(errors.values()) == {10.0}  # 20 % of the 50 requests a second EKS now gets
    state = alarm(clients, "flexdesk-eks-5xx")
    assert state["StateValue"] == "ALARM"
    assert state["StateReason"].startswith("Threshold Crossed: 1 datapoint [100.0 (")
    assert state["StateReason"].endswith(")] was greater than the threshold (5.0).")
    reason_data = json.loads(state["StateReasonData"])
    assert reason_data["recentDatapoints"] == [100.0]
    assert reason_data["statistic"] == "Sum"
    assert alarm(clients, "flexdesk-ec2-5xx")["StateValue"] == "OK"
    assert simulator.snapshot()["alarms"]["flexdesk-eks-5xx"] == "ALARM"

    set_weights(100, 0)  # the gate's abort: everything back on EC2
    run(simulator, clock, 20, step=2.0)
    assert alarm(clients, "flexdesk-eks-5xx")["StateValue"] == "OK"


def test_a_60_second_alarm_sees_one_second_data_in_whole_minutes(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    clock: FakeClock,
) -> None:
    # 2 errors a second: never above 100 in one second, 120 in a minute.
    create_eks_alarm(
        clients, world, eks_target_group, "eks-5xx-minute", "HTTPCode_Target_5XX_Count", 100, 60
    )
    simulator, _ = make_simulator("eks-5xx=0.1", interval=5.0)
    set_weights(90, 10)
    run(simulator, clock, 55, step=5.0)
    assert alarm(clients, "eks-5xx-minute")["StateValue"] == "OK"
    run(simulator, clock, 5, step=5.0)
    state = alarm(clients, "eks-5xx-minute")
    assert state["StateValue"] == "ALARM"
    assert "[120.0 (" in state["StateReason"]


def test_lag_and_60_second_periods_publish_only_ended_periods_at_their_start(
    world: World,
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    simulator, _ = make_simulator("metric-period=60", "metrics-lag=30", interval=5.0)
    start = clock.now
    run(simulator, clock, 85, step=5.0)
    assert datapoints("RequestCount", period=60) == {}  # minute one ended, but is 30 s late
    run(simulator, clock, 5, step=5.0)
    assert datapoints("RequestCount", period=60) == {start: 12000.0}
    run(simulator, clock, 60, step=5.0)
    published = datapoints("RequestCount", world.ec2_target_group_arn, period=60)
    assert published == {start: 12000.0, start + 60: 12000.0}
    last = simulator.snapshot()["target_groups"]["flexdesk-ec2"]["last_period"]
    assert (last["period_start"], last["period"], last["RequestCount"]) == (start + 60, 60, 12000)


def test_metrics_missing_silences_only_the_eks_side(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    set_weights(50, 50)
    simulator, board = make_simulator("metrics-missing")
    run(simulator, clock, 5)
    assert datapoints("RequestCount", eks_target_group) == {}
    assert datapoints("HealthyHostCount", eks_target_group, statistic="Average") == {}
    assert sum(datapoints("RequestCount", world.ec2_target_group_arn).values()) == 500
    assert sum(datapoints("RequestCount").values()) == 1000

    board.inject(["metrics-missing=off"])
    run(simulator, clock, 2)
    assert sum(datapoints("RequestCount", eks_target_group).values()) == 200


def test_eks_latency_drives_p99_and_the_latency_alarm(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    create_eks_alarm(
        clients,
        world,
        eks_target_group,
        "flexdesk-eks-latency",
        "TargetResponseTime",
        1.5,
        evaluation_periods=2,
        ExtendedStatistic="p99",
    )
    set_weights(50, 50)
    simulator, board = make_simulator(interval=2.0)
    run(simulator, clock, 20, step=2.0)
    healthy = simulator.snapshot()["target_groups"]
    assert 0.05 <= healthy["flexdesk-eks"]["last_period"]["TargetResponseTime_p99"] <= 0.09
    assert 0.08 <= healthy["flexdesk-ec2"]["last_period"]["TargetResponseTime_p99"] <= 0.12
    assert alarm(clients, "flexdesk-eks-latency")["StateValue"] == "OK"

    board.inject(["eks-latency=2000"])
    run(simulator, clock, 10, step=2.0)
    assert alarm(clients, "flexdesk-eks-latency")["StateValue"] == "OK"  # one slow window of two
    run(simulator, clock, 10, step=2.0)
    state = alarm(clients, "flexdesk-eks-latency")
    assert state["StateValue"] == "ALARM"
    reason = json.loads(state["StateReasonData"])
    assert reason["extendedStatistic"] == "p99"
    assert all(1.9 <= v <= 2.0 for v in reason["recentDatapoints"])
    assert state["StateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints [")

    # moto holds the published samples: their spread is the injected latency's.
    slowest = datapoints("TargetResponseTime", eks_target_group, statistic="Maximum")
    fastest = datapoints("TargetResponseTime", eks_target_group, statistic="Minimum")
    recent = [t for t in slowest if t >= clock.now - 10]
    assert all(1.9 <= slowest[t] <= 2.0 and fastest[t] >= 1.2 for t in recent)
    ec2 = datapoints("TargetResponseTime", world.ec2_target_group_arn, statistic="Maximum")
    assert max(ec2.values()) <= 0.12
    assert alarm(clients, "flexdesk-ec2-latency")["StateValue"] == "OK"


def test_eks_refuse_shows_only_in_connection_errors_and_the_albs_own_5xx(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    create_eks_alarm(
        clients, world, eks_target_group, "flexdesk-eks-5xx", "HTTPCode_Target_5XX_Count", 5
    )
    simulator, _ = make_simulator("eks-refuse=0.3@25")
    set_weights(90, 10)
    run(simulator, clock, 5)
    assert datapoints("TargetConnectionErrorCount", eks_target_group) == {}
    assert datapoints("HTTPCode_ELB_5XX_Count") == {}

    set_weights(75, 25)
    run(simulator, clock, 10)
    # 25 % of 200 requests a second reach EKS; 30 % of those fail to connect (15 a second).
    refused = datapoints("TargetConnectionErrorCount", eks_target_group)
    assert set(refused.values()) == {15.0}
    assert set(datapoints("HTTPCode_ELB_5XX_Count").values()) == {15.0}
    assert max(datapoints("RequestCount", eks_target_group).values()) == 50.0  # all counted
    # What the EKS group's own alarms watch stays clean, and its targets stay healthy.
    assert datapoints("HTTPCode_Target_5XX_Count", eks_target_group) == {}
    assert alarm(clients, "flexdesk-eks-5xx")["StateValue"] == "OK"
    health = simulator.snapshot()["target_groups"]["flexdesk-eks"]
    assert health["healthy_targets"] == health["registered_targets"] == 3
