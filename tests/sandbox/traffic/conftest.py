"""The traffic simulator on a fake clock, over a seeded world on a real moto server (the world
and its clients come from ``tests/sandbox/conftest.py``)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from world_helpers import REGION, FakeClock, dimension

from flexmigrate.sandbox.faults import FaultBoard, parse_specs
from flexmigrate.sandbox.traffic import TrafficSimulator
from flexmigrate.sandbox.world import World


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_simulator(
    session: boto3.Session, moto_url: str, clock: FakeClock
) -> Callable[..., tuple[TrafficSimulator, FaultBoard]]:
    def make(*specs: str, interval: float = 1.0) -> tuple[TrafficSimulator, FaultBoard]:
        board = FaultBoard(parse_specs(list(specs)))
        simulator = TrafficSimulator(
            session, moto_url, REGION, board, interval=interval, seed=7, clock=clock
        )
        return simulator, board

    return make


@pytest.fixture
def eks_target_group(world: World, clients: Callable[[str], Any]) -> str:
    """An ip target group with three pod IPs, as phase 3 creates it (not yet in the listener)."""
    elbv2 = clients("elbv2")
    arn: str = elbv2.create_target_group(
        Name="flexdesk-eks",
        Protocol="HTTP",
        Port=8000,
        VpcId=world.vpc_id,
        TargetType="ip",
        HealthCheckPath="/api/v2/health",
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=arn,
        Targets=[{"Id": ip, "Port": 8000} for ip in ("10.0.16.21", "10.0.16.22", "10.0.32.23")],
    )
    return arn


@pytest.fixture
def set_weights(
    world: World, eks_target_group: str, clients: Callable[[str], Any]
) -> Callable[[int, int], None]:
    """Weighted forward on the HTTPS listener, the way phase 4 shifts traffic."""
    elbv2 = clients("elbv2")

    def shift(ec2_weight: int, eks_weight: int) -> None:
        elbv2.modify_listener(
            ListenerArn=world.https_listener_arn,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": world.ec2_target_group_arn, "Weight": ec2_weight},
                            {"TargetGroupArn": eks_target_group, "Weight": eks_weight},
                        ]
                    },
                }
            ],
        )

    return shift


@pytest.fixture
def datapoints(
    world: World, clients: Callable[[str], Any], clock: FakeClock
) -> Callable[..., dict[float, float]]:
    """Published datapoints of one ALB metric: {period start (epoch s): statistic}."""
    cloudwatch = clients("cloudwatch")

    def read(
        metric: str,
        target_group: str | None = None,
        statistic: str = "Sum",
        period: int = 1,
    ) -> dict[float, float]:
        dims = [{"Name": "LoadBalancer", "Value": dimension(world.alb_arn, "loadbalancer")}]
        if target_group is not None:
            dims.append({"Name": "TargetGroup", "Value": dimension(target_group, "targetgroup")})
        # GetMetricData, not GetMetricStatistics: moto matches dimensions exactly only there.
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/ApplicationELB",
                            "MetricName": metric,
                            "Dimensions": dims,
                        },
                        "Period": period,
                        "Stat": statistic,
                    },
                }
            ],
            StartTime=datetime.datetime.fromtimestamp(clock.start, datetime.UTC),
            EndTime=datetime.datetime.fromtimestamp(clock.now + period, datetime.UTC),
        )
        result = answer["MetricDataResults"][0]
        return {
            t.timestamp(): v for t, v in zip(result["Timestamps"], result["Values"], strict=True)
        }

    return read
