"""The judgements of phase 1 that are pure functions of what was read: what to do with a node
group, whether a subnet has egress, which subnets the load balancer controller will miss,
whether a Kubernetes version is about to leave support, which add-on version to install,
and names that stay within IAM's limits."""

from __future__ import annotations

import datetime as dt

import pytest

from flexmigrate.engine.protocol import CheckStatus
from phases.cluster_foundation.addons import pick_version
from phases.cluster_foundation.checks import caller_principal, judge_support
from phases.cluster_foundation.nodegroups import Decision, decide
from phases.shared.naming import fit_name
from phases.shared.vpc import egress, elb_tag_problems

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("status", "owned", "adopt", "first", "expected"),
    [
        (None, False, False, True, Decision.CREATE),
        ("CREATING", True, False, True, Decision.WAIT),
        ("DELETING", True, False, False, Decision.WAIT),
        ("ACTIVE", True, False, False, Decision.DONE),
        ("ACTIVE", False, False, True, Decision.FOREIGN),
        ("ACTIVE", False, True, True, Decision.DONE),
        ("CREATE_FAILED", True, False, True, Decision.REPLACE),
        ("CREATE_FAILED", True, False, False, Decision.FAILED),
        ("CREATE_FAILED", False, True, True, Decision.FAILED),
        ("DEGRADED", True, False, True, Decision.FAILED),
    ],
)
def test_node_group_decisions(
    status: str | None, owned: bool, adopt: bool, first: bool, expected: Decision
) -> None:
    assert decide(status, owned, adopt, first) is expected


def _table(subnet: str | None, *routes: dict[str, str], main: bool = False) -> dict[str, object]:
    association = {"Main": True} if main else {"SubnetId": subnet}
    local = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"}
    return {"Associations": [association], "Routes": [local, *routes]}


def test_egress_follows_the_subnets_own_table_then_the_main_one() -> None:
    nat = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}
    tables = [_table("subnet-a", nat), _table(None, main=True)]
    assert egress("subnet-a", tables, []) == (True, "default route via NAT gateway nat-1")
    ok, detail = egress("subnet-b", tables, [])
    assert not ok
    assert "ecr.api, ecr.dkr, s3, sts, ec2" in detail


def test_egress_through_vpc_endpoints_alone() -> None:
    tables = [_table(None, main=True)]
    services = [f"com.amazonaws.af-south-1.{s}" for s in ("ecr.api", "ecr.dkr", "s3", "sts")]
    ok, detail = egress("subnet-a", tables, services)
    assert not ok and detail.endswith("for ec2")
    ok, _ = egress("subnet-a", tables, [*services, "com.amazonaws.af-south-1.ec2"])
    assert ok


def test_a_blackhole_route_is_no_egress() -> None:
    gone = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-9", "State": "blackhole"}
    ok, detail = egress("subnet-a", [_table("subnet-a", gone)], [])
    assert not ok and "blackhole" in detail


def test_elb_tags() -> None:
    def subnet(name: str, az: str, tag: str | None) -> dict[str, object]:
        tags = [{"Key": tag, "Value": "1"}] if tag else []
        return {"SubnetId": name, "AvailabilityZone": az, "Tags": tags}

    private = [subnet("p-a", "a", "kubernetes.io/role/internal-elb"), subnet("p-b", "b", None)]
    public = [subnet("u-a", "a", "kubernetes.io/role/elb")]
    problems = elb_tag_problems(private, private + public)
    assert problems == [
        "p-b has neither kubernetes.io/role/internal-elb nor kubernetes.io/role/elb",
        "the VPC has kubernetes.io/role/elb subnets in 1 AZ(s), not 2",
    ]
    public.append(subnet("u-b", "b", "kubernetes.io/role/elb"))
    assert elb_tag_problems(private[:1], private + public) == []


def test_support_window() -> None:
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

    def row(status: str, end: dt.date) -> dict[str, object]:
        when = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC)
        return {"versionStatus": status, "endOfStandardSupportDate": when}

    assert judge_support("1.35", row("STANDARD_SUPPORT", dt.date(2027, 3, 27)), now).status is (
        CheckStatus.PASS
    )
    soon = judge_support("1.34", row("STANDARD_SUPPORT", dt.date(2026, 12, 2)), now)
    assert soon.status is CheckStatus.WARN and "in 5 days" in soon.detail
    extended = judge_support("1.32", row("EXTENDED_SUPPORT", dt.date(2026, 3, 23)), now)
    assert extended.status is CheckStatus.WARN and "extended support" in extended.detail


def test_addon_version_is_the_default_for_the_cluster_version() -> None:
    def version(name: str, *compat: tuple[str, bool]) -> dict[str, object]:
        return {
            "addonVersion": name,
            "compatibilities": [{"clusterVersion": v, "defaultVersion": d} for v, d in compat],
        }

    found = {
        "addons": [
            {
                "addonVersions": [
                    version("v3", ("1.36", True)),
                    version("v2", ("1.35", False), ("1.36", False)),
                    version("v1", ("1.35", True)),
                ]
            }
        ]
    }
    assert pick_version(found, "1.35") == "v1"
    assert pick_version(found, "1.36") == "v3"
    only = {"addons": [{"addonVersions": [version("v2", ("1.35", False))]}]}
    assert pick_version(only, "1.35") == "v2"
    assert pick_version(found, "1.20") is None


def test_long_names_are_cut_with_a_digest() -> None:
    long = "c" * 63 + "-cluster-role"
    cut = fit_name(long)
    assert len(cut) == 64 and cut != fit_name("d" * 63 + "-cluster-role")
    assert fit_name(long) == cut  # derived from the name alone
    assert fit_name("flexdesk-cluster-node-role") == "flexdesk-cluster-node-role"


def test_caller_principal() -> None:
    from flexmigrate.engine.protocol import Registry
    from flexmigrate.runbook.loader import load_runbook
    from phases import REGISTRY
    from tests.conftest import SANDBOX_RUNBOOK

    rb = load_runbook(SANDBOX_RUNBOOK, Registry(REGISTRY).runbook_model())
    session = "arn:aws:sts::123456789012:assumed-role/flexdesk-operators/alice"
    assert caller_principal(rb, session) == "arn:aws:iam::123456789012:role/flexdesk-operators"
    assert (
        caller_principal(rb, "arn:aws:iam::123456789012:user/ci/deployer")
        == "arn:aws:iam::123456789012:user/ci/deployer"
    )
    assert caller_principal(rb, "arn:aws:iam::123456789012:root") is None
