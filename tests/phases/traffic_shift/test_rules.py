"""The rules phase 4 judges and writes by, as pure functions: what each gate concludes from
what was read, and the forward action it writes back (everything but two weights kept)."""

from __future__ import annotations

from typing import Any

import pytest

from phases.shared.sections import Gates
from phases.traffic_shift.gates import Result, judge_5xx, judge_alarms, judge_p99, judge_targets
from phases.traffic_shift.metrics import Series, Window
from phases.traffic_shift.weights import Split, matches, split_of, stickiness, with_split

EC2 = "arn:aws:elasticloadbalancing:af-south-1:1:targetgroup/flexdesk-ec2/1"
EKS = "arn:aws:elasticloadbalancing:af-south-1:1:targetgroup/flexdesk-eks/2"
GATES = Gates(min_requests=50, max_5xx_rate=0.01, max_5xx_ratio_vs_ec2=2.0)


def window(**series: dict[float, float]) -> Window:
    return Window(
        cutoff=100.0,
        start=100.0,
        end=160.0,
        period=60,
        series={key: Series(dict(points)) for key, points in series.items()},
    )


def test_no_request_data_is_inconclusive_never_a_pass() -> None:
    reading = judge_5xx(window(), GATES)
    assert reading.result is Result.INCONCLUSIVE
    assert "no EKS request data" in reading.detail


def test_too_few_requests_do_not_make_a_rate() -> None:
    reading = judge_5xx(window(eks_requests={120: 40}, eks_5xx={120: 40}), GATES)
    assert reading.result is Result.INCONCLUSIVE
    assert "fewer than the 50 needed" in reading.detail


def test_no_5xx_datapoint_means_no_errors() -> None:
    reading = judge_5xx(window(eks_requests={120: 500}, ec2_requests={120: 4500}), GATES)
    assert reading.result is Result.PASS
    assert reading.values["eks_5xx"] == 0


def test_absolute_5xx_limit() -> None:
    reading = judge_5xx(window(eks_requests={120: 100, 180: 100}, eks_5xx={180: 20}), GATES)
    assert reading.result is Result.FAIL
    assert "10.00 % (20 of 200 requests) above the limit 1.00 %" in reading.detail


def test_relative_to_ec2_fails_below_the_absolute_limit() -> None:
    eks_worse = window(
        eks_requests={120: 1000},
        eks_5xx={120: 8},  # 0.8 %: under 1 %, but eight times EC2's 0.1 %
        ec2_requests={120: 10000},
        ec2_5xx={120: 10},
    )
    assert judge_5xx(eks_worse, GATES).result is Result.FAIL
    # One error on a quiet side is below a tenth of the limit: not a regression.
    noise = window(eks_requests={120: 1000}, eks_5xx={120: 1}, ec2_requests={120: 10000})
    assert judge_5xx(noise, GATES).result is Result.PASS


def test_p99_takes_the_worst_period() -> None:
    assert judge_p99(window(), 1.5).result is Result.INCONCLUSIVE
    assert judge_p99(window(eks_p99={120: 0.08, 180: 0.09}), 1.5).result is Result.PASS
    slow = judge_p99(window(eks_p99={120: 0.08, 180: 2.2}), 1.5)
    assert slow.result is Result.FAIL
    assert "2.2s" in slow.detail


def test_targets_fail_below_the_minimum_and_say_why() -> None:
    healthy = [("10.0.16.5:8000", "healthy", ""), ("10.0.32.5:8000", "healthy", "")]
    assert judge_targets(healthy, 2).result is Result.PASS
    sick = [healthy[0], ("10.0.32.5:8000", "unhealthy", "Request timed out")]
    reading = judge_targets(sick, 2)
    assert reading.result is Result.FAIL
    assert "10.0.32.5:8000 unhealthy (Request timed out)" in reading.detail
    assert judge_targets([], 1).result is Result.FAIL


def test_alarms() -> None:
    ok = {"AlarmName": "a", "StateValue": "OK"}
    assert judge_alarms([ok], []).result is Result.PASS
    firing = {"AlarmName": "b", "StateValue": "ALARM"}
    assert judge_alarms([ok, firing], []).result is Result.FAIL
    waiting = {"AlarmName": "c", "StateValue": "INSUFFICIENT_DATA"}
    assert judge_alarms([ok, waiting], []).result is Result.INCONCLUSIVE
    assert judge_alarms([ok], ["gone"]).result is Result.ERROR


def _sticky_forward(groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "forward",
        "Order": 2,
        "ForwardConfig": {
            "TargetGroups": groups,
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
        },
    }


def test_weights_keep_stickiness_order_and_authentication() -> None:
    oidc = {
        "Type": "authenticate-oidc",
        "Order": 1,
        "AuthenticateOidcConfig": {"Issuer": "https://id.example", "ClientId": "flexdesk"},
    }
    actions = [oidc, _sticky_forward([{"TargetGroupArn": EC2, "Weight": 1}])]
    written = with_split(actions, EC2, EKS, 25)
    assert written[0]["AuthenticateOidcConfig"]["UseExistingClientSecret"] is True
    assert "UseExistingClientSecret" not in actions[0]["AuthenticateOidcConfig"]  # not mutated
    forward = written[1]
    assert forward["Order"] == 2
    assert forward["ForwardConfig"]["TargetGroupStickinessConfig"]["DurationSeconds"] == 300
    assert forward["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": EC2, "Weight": 75},
        {"TargetGroupArn": EKS, "Weight": 25},
    ]
    assert matches(written, EC2, EKS, 25) and not matches(written, EC2, EKS, 10)
    assert stickiness(written) == 300


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([{"TargetGroupArn": EC2, "Weight": 1}, {"TargetGroupArn": EKS, "Weight": 0}], (100, 0)),
        ([{"TargetGroupArn": EC2, "Weight": 9}, {"TargetGroupArn": EKS, "Weight": 1}], (90, 10)),
        ([{"TargetGroupArn": EC2, "Weight": 0}, {"TargetGroupArn": EKS, "Weight": 5}], (0, 100)),
    ],
)
def test_split_is_read_from_any_weights(
    groups: list[dict[str, Any]], expected: tuple[int, int]
) -> None:
    assert split_of([_sticky_forward(groups)], EC2, EKS) == Split(*expected)


def test_a_plain_forward_is_all_on_ec2() -> None:
    plain = [{"Type": "forward", "TargetGroupArn": EC2}]
    assert split_of(plain, EC2, EKS) == Split(100, 0)
    written = with_split(plain, EC2, EKS, 10)
    assert "TargetGroupArn" not in written[0]
    assert matches(written, EC2, EKS, 10)
