"""Simulated requests go where an ALB would send them, for listener shapes phase 4 may use."""

from __future__ import annotations

from typing import Any

import pytest

from flexmigrate.sandbox.traffic.routing import REQUEST_MIX, listener_from_api, route

EC2 = "arn:aws:elasticloadbalancing:af-south-1:1:targetgroup/flexdesk-ec2/1"
EKS = "arn:aws:elasticloadbalancing:af-south-1:1:targetgroup/flexdesk-eks/2"


def listener(port: int, protocol: str, default: dict[str, Any], *rules: dict[str, Any]) -> Any:
    described = {"ListenerArn": f"l-{port}", "Port": port, "Protocol": protocol}
    described["DefaultActions"] = [default]
    default_rule = {"Priority": "default", "IsDefault": True, "Actions": [default]}
    return listener_from_api(described, [*rules, default_rule])


def forward(**weights: int) -> dict[str, Any]:
    arns = {"ec2": EC2, "eks": EKS}
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arns[k], "Weight": w} for k, w in weights.items()]
        },
    }


REDIRECT = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443"}}


def test_http_only_clients_follow_the_redirect_to_https() -> None:
    routing = route([listener(80, "HTTP", REDIRECT), listener(443, "HTTPS", forward(ec2=1))])
    assert routing.target_groups == {EC2: pytest.approx(1.0)}


def test_rules_are_evaluated_by_priority_before_the_default() -> None:
    api_only = {
        "Priority": "20",
        "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}],
        "Actions": [forward(ec2=0, eks=1)],
    }
    health_first = {
        "Priority": "10",
        "Conditions": [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/health"]}},
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}},
        ],
        "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    }
    routing = route([listener(443, "HTTPS", forward(ec2=1), api_only, health_first)])
    health_share = sum(share for _, path, share in REQUEST_MIX if path == "/health")
    assert routing.target_groups[EKS] == pytest.approx(1.0 - health_share)
    assert EC2 not in routing.target_groups
    assert routing.elsewhere == pytest.approx(health_share)


def test_conditions_the_simulated_clients_never_match() -> None:
    header_rule = {
        "Priority": "1",
        "Conditions": [
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]},
            }
        ],
        "Actions": [forward(eks=1)],
    }
    other_host = {
        "Priority": "2",
        "Conditions": [{"Field": "host-header", "Values": ["admin.sch.ng"]}],
        "Actions": [forward(eks=1)],
    }
    routing = route([listener(443, "HTTPS", forward(ec2=1), header_rule, other_host)])
    assert routing.target_groups == {EC2: pytest.approx(1.0)}


def test_all_zero_weights_are_the_load_balancers_own_5xx() -> None:
    routing = route([listener(443, "HTTPS", forward(ec2=0, eks=0))])
    assert routing.target_groups == {}
    assert routing.elb_5xx == pytest.approx(1.0)
