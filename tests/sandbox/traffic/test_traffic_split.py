"""Requests follow the listener's current weights, as the traffic-shift gates will read them.

Every test drives the simulator with ``tick()`` on a fake clock: simulated seconds, no
waiting. Metrics are read back from moto with real CloudWatch calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from world_helpers import REGION, FakeClock

from flexmigrate.sandbox.faults import FaultBoard
from flexmigrate.sandbox.traffic import TrafficSimulator
from flexmigrate.sandbox.world import World


def run(simulator: TrafficSimulator, clock: FakeClock, seconds: int, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.now += step
        simulator.tick()


def test_weights_90_10_split_request_count_90_10(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    set_weights(90, 10)
    simulator, _ = make_simulator()
    start = clock.now
    run(simulator, clock, 30)

    ec2 = datapoints("RequestCount", world.ec2_target_group_arn)
    eks = datapoints("RequestCount", eks_target_group)
    total = datapoints("RequestCount")
    # One datapoint per one-second period, stamped at the period's start.
    assert sorted(ec2) == [start + i for i in range(30)]
    assert sum(total.values()) == 200 * 30
    eks_share = sum(eks.values()) / (sum(ec2.values()) + sum(eks.values()))
    assert abs(eks_share - 0.10) < 0.02
    assert sum(ec2.values()) + sum(eks.values()) == sum(total.values())

    snapshot = simulator.snapshot()["target_groups"]
    assert snapshot["flexdesk-ec2"]["traffic_percent"] == 90.0
    assert snapshot["flexdesk-eks"]["traffic_percent"] == 10.0
    assert snapshot["flexdesk-eks"]["side"] == "eks"
    assert snapshot["flexdesk-eks"]["last_period"]["RequestCount"] == 20
    assert snapshot["flexdesk-eks"]["healthy_targets"] == 3


def test_weights_are_read_fresh_every_tick(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    simulator, _ = make_simulator()
    start = clock.now
    run(simulator, clock, 5)  # the seeded listener: plain forward to flexdesk-ec2
    set_weights(50, 50)
    run(simulator, clock, 5)
    set_weights(0, 100)
    run(simulator, clock, 5)

    ec2 = datapoints("RequestCount", world.ec2_target_group_arn)
    eks = datapoints("RequestCount", eks_target_group)
    assert [ec2.get(start + i, 0) for i in range(15)] == [200] * 5 + [100] * 5 + [0] * 5
    assert [eks.get(start + i, 0) for i in range(15)] == [0] * 5 + [100] * 5 + [200] * 5
    # Like a real ALB, a target group that served nothing has no datapoint at all.
    assert all(t < start + 10 for t in ec2)
    healthy = datapoints("HealthyHostCount", world.ec2_target_group_arn, statistic="Average")
    assert set(healthy.values()) == {1.0}


def test_a_weighted_rule_takes_the_traffic_from_the_default_action(
    world: World,
    eks_target_group: str,
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    clients("elbv2").create_rule(
        ListenerArn=world.https_listener_arn,
        Priority=10,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.sch.ng"]}}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": world.ec2_target_group_arn, "Weight": 75},
                        {"TargetGroupArn": eks_target_group, "Weight": 25},
                    ]
                },
            }
        ],
    )
    clients("elbv2").create_rule(
        ListenerArn=world.https_listener_arn,
        Priority=5,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin/*"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
    )
    simulator, _ = make_simulator()
    run(simulator, clock, 10)
    ec2 = sum(datapoints("RequestCount", world.ec2_target_group_arn).values())
    eks = sum(datapoints("RequestCount", eks_target_group).values())
    assert (ec2, eks) == (1500, 500)
    assert datapoints("HTTPCode_ELB_5XX_Count") == {}


def test_unhealthy_targets_still_get_requests_and_fail_them(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    set_weights(50, 50)
    simulator, _ = make_simulator("targets-unhealthy")
    run(simulator, clock, 4)
    eks_requests = sum(datapoints("RequestCount", eks_target_group).values())
    assert eks_requests == 400  # ALBs fail open
    assert sum(datapoints("HTTPCode_Target_5XX_Count", eks_target_group).values()) == 400
    unhealthy = datapoints("UnHealthyHostCount", eks_target_group, statistic="Maximum")
    healthy = datapoints("HealthyHostCount", eks_target_group, statistic="Maximum")
    assert set(unhealthy.values()) == {3.0}
    assert set(healthy.values()) == {0.0}
    snapshot = simulator.snapshot()["target_groups"]["flexdesk-eks"]
    assert (snapshot["registered_targets"], snapshot["healthy_targets"]) == (3, 0)


def test_a_target_group_without_targets_gets_the_load_balancers_503s(
    world: World,
    eks_target_group: str,
    set_weights: Callable[[int, int], None],
    clients: Callable[[str], Any],
    make_simulator: Callable[..., Any],
    datapoints: Callable[..., dict[float, float]],
    clock: FakeClock,
) -> None:
    elbv2 = clients("elbv2")
    targets = elbv2.describe_target_health(TargetGroupArn=eks_target_group)
    elbv2.deregister_targets(
        TargetGroupArn=eks_target_group,
        Targets=[d["Target"] for d in targets["TargetHealthDescriptions"]],
    )
    set_weights(90, 10)
    simulator, _ = make_simulator()
    run(simulator, clock, 5)
    assert sum(datapoints("HTTPCode_ELB_5XX_Count").values()) == 100
    assert datapoints("RequestCount", eks_target_group) == {}
    assert sum(datapoints("RequestCount", world.ec2_target_group_arn).values()) == 900


def test_the_background_thread_publishes_until_stopped(
    world: World, session: Any, moto_url: str
) -> None:
    board = FaultBoard()
    simulator = TrafficSimulator(session, moto_url, REGION, board, interval=0.05, seed=1)
    simulator.start()
    try:
        deadline = time.monotonic() + 5.0
        published = 0
        while time.monotonic() < deadline and not published:
            time.sleep(0.05)
            ec2 = simulator.snapshot()["target_groups"].get("flexdesk-ec2", {})
            published = ec2.get("requests_published", 0)
        assert published > 0
    finally:
        simulator.stop()
    at = simulator.snapshot()["at"]
    time.sleep(0.15)
    assert simulator.snapshot()["at"] == at
    assert simulator.snapshot()["last_error"] is None
