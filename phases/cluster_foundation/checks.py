"""Preflight of phase 1: what must hold before the first IAM or EKS call.

Each check is read-only and resume-aware: what phase 1 itself created (a cluster carrying its
ownership tags) passes, so preflight on ``resume`` does not fail on the phase's own work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.engine.protocol import Check, Outcome, failed, passed, skipped, warned
from flexmigrate.errors import CloudError
from flexmigrate.ownership import owned
from phases.shared import vpc as net
from phases.shared.naming import describe_cluster, iam_arn, partition

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

SUPPORT_WARNING_DAYS = 90
# What phase 1 calls that can be refused; simulated for the caller when IAM allows it.
ACTIONS = (
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:PassRole",
    "iam:TagRole",
    "iam:CreateOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "eks:CreateCluster",
    "eks:TagResource",
    "eks:CreateAccessEntry",
    "eks:AssociateAccessPolicy",
    "eks:CreateNodegroup",
    "eks:CreateAddon",
    "ec2:CreateSecurityGroup",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateTags",
)


def _network(ctx: StepContext) -> Outcome:
    rb = ctx.runbook.cluster
    vpc = net.resolve_vpc(ctx, rb.vpc)
    if vpc.found is None:
        return failed(vpc.problem, "fix cluster.vpc in the runbook")
    vpc_id = vpc.found["VpcId"]
    resolved = net.resolve_subnets(ctx, rb.subnets)
    problems = [r.problem for r in resolved if r.found is None]
    subnets = [r.found for r in resolved if r.found is not None]
    outside = [s["SubnetId"] for s in subnets if s["VpcId"] != vpc_id]
    if outside:
        problems.append(f"{', '.join(outside)} not in {vpc_id}")
    zones = sorted({s["AvailabilityZone"] for s in subnets})
    if len(zones) < 2:
        problems.append(
            f"the subnets are in {len(zones)} availability zone(s) ({', '.join(zones) or '-'}); "
            "EKS needs two"
        )
    if problems:
        return failed("; ".join(problems), "list subnets of the VPC in two AZs in cluster.subnets")
    return passed(f"{vpc_id}: {len(subnets)} subnets in {', '.join(zones)}")


def _vpc_subnets(ctx: StepContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """(cluster subnets, every subnet of the VPC), or None when they do not resolve (the
    network check reports that)."""
    vpc = net.resolve_vpc(ctx, ctx.runbook.cluster.vpc)
    resolved = net.resolve_subnets(ctx, ctx.runbook.cluster.subnets)
    if vpc.found is None or any(r.found is None for r in resolved):
        return None
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc.found["VpcId"]]}]
    everything = ctx.aws("ec2").describe_subnets(Filters=vpc_filter)["Subnets"]
    return [r.found for r in resolved if r.found is not None], everything


def _elb_tags(ctx: StepContext) -> Outcome:
    found = _vpc_subnets(ctx)
    if found is None:
        return skipped("the subnets do not resolve (see the network check)")
    problems = net.elb_tag_problems(*found)
    if problems:
        return warned(
            "; ".join(problems),
            f"tag private subnets {net.INTERNAL_ELB_TAG}=1 and public ones {net.ELB_TAG}=1 "
            "(aws ec2 create-tags --resources SUBNET --tags Key=...,Value=1) so the load "
            "balancer controller finds them",
        )
    return passed("subnets carry the load balancer role tags")


def _egress(ctx: StepContext) -> Outcome:
    found = _vpc_subnets(ctx)
    if found is None:
        return skipped("the subnets do not resolve (see the network check)")
    cluster_subnets, _ = found
    vpc_id = cluster_subnets[0]["VpcId"]
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
    ec2 = ctx.aws("ec2")
    tables = [
        table
        for page in ec2.paginate("describe_route_tables", Filters=vpc_filter)
        for table in page["RouteTables"]
    ]
    endpoints = [
        endpoint["ServiceName"]
        for page in ec2.paginate("describe_vpc_endpoints", Filters=vpc_filter)
        for endpoint in page["VpcEndpoints"]
        if str(endpoint.get("State", "available")).lower() == "available"
    ]
    details: list[str] = []
    problems: list[str] = []
    for subnet in cluster_subnets:
        ok, detail = net.egress(subnet["SubnetId"], tables, endpoints)
        (details if ok else problems).append(f"{subnet['SubnetId']}: {detail}")
    if problems:
        return failed(
            "nodes would never join: " + "; ".join(problems),
            "add a NAT gateway route (0.0.0.0/0) to the subnets' route table, or VPC endpoints "
            "for " + ", ".join(net.NODE_ENDPOINTS),
        )
    return passed("; ".join(details))


def _public_endpoint(ctx: StepContext) -> Outcome:
    endpoint = ctx.runbook.cluster.endpoint
    if not endpoint.public:
        return passed("the API endpoint is private only (cluster.endpoint.public: false)")
    cidrs = endpoint.public_cidrs
    if "0.0.0.0/0" in cidrs:
        return warned(
            "cluster.endpoint.public_cidrs is 0.0.0.0/0"
            + (" (the default)" if cidrs == ["0.0.0.0/0"] else "")
            + ": the cluster's Kubernetes API answers the whole internet",
            "list the address ranges of the operators and CI in cluster.endpoint.public_cidrs, "
            "or set cluster.endpoint.public: false and run flexmigrate from inside the VPC",
        )
    return passed(f"the public API endpoint answers {', '.join(cidrs)} only")


def _version(ctx: StepContext) -> Outcome:
    version = ctx.runbook.cluster.version
    eks = ctx.aws("eks")
    rows = eks.describe_cluster_versions(clusterVersions=[version]).get("clusterVersions", [])
    if not rows:
        offered = sorted(
            (r["clusterVersion"] for r in _all_versions(ctx)),
            key=lambda v: tuple(int(p) for p in v.split(".")),
        )
        return failed(
            f"EKS does not offer Kubernetes {version} now (offered: {', '.join(offered)})",
            "set cluster.version to one EKS offers",
        )
    return judge_support(version, rows[0], dt.datetime.now(dt.UTC))


def judge_support(version: str, row: dict[str, Any], now: dt.datetime) -> Outcome:
    """Pass, or warn when the version is in extended support or leaves standard support soon."""
    status = str(row.get("versionStatus") or row.get("status") or "").upper().replace("-", "_")
    end = _when(row.get("endOfStandardSupportDate"))
    if status == "EXTENDED_SUPPORT":
        return warned(
            f"Kubernetes {version} is in extended support (billed extra per cluster hour)",
            "choose a version in standard support",
        )
    if end is not None:
        days = (end - now).days
        if days <= SUPPORT_WARNING_DAYS:
            return warned(
                f"Kubernetes {version} leaves standard support in {days} days "
                f"({end.date().isoformat()})",
                "choose a newer version, or plan the upgrade now",
            )
        return passed(f"EKS offers {version}; standard support until {end.date().isoformat()}")
    return passed(f"EKS offers {version}")


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return None


def _all_versions(ctx: StepContext) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = ctx.aws("eks").describe_cluster_versions(**({"nextToken": token} if token else {}))
        rows += page.get("clusterVersions", [])
        token = page.get("nextToken")
        if not token:
            return rows


def _cluster_name(ctx: StepContext) -> Outcome:
    rb = ctx.runbook.cluster
    cluster = describe_cluster(ctx)
    if cluster is None:
        return passed(f"no cluster named {rb.name} yet: it will be created")
    if owned(cluster.get("tags") or {}, ctx.runbook.name):
        return passed(f"{rb.name} was created by flexmigrate ({cluster.get('status')})")
    if rb.adopt_existing:
        return warned(
            f"{rb.name} exists and was not created by flexmigrate: it will be adopted "
            "(used as is, never deleted)",
        )
    return failed(
        f"a cluster named {rb.name} exists and was not created by flexmigrate",
        "choose another cluster.name, or set cluster.adopt_existing: true to use that cluster",
    )


def _admins(ctx: StepContext) -> Outcome:
    missing = []
    iam = ctx.aws("iam")
    for arn in ctx.runbook.cluster.admins:
        kind, _, name = arn.split(":", 5)[-1].partition("/")
        name = name.rsplit("/", 1)[-1]
        try:
            if kind == "user":
                iam.get_user(UserName=name)
            else:
                iam.get_role(RoleName=name)
        except CloudError as exc:
            if exc.code != "NoSuchEntity":
                raise
            missing.append(arn)
    if missing:
        return failed(
            f"IAM has no {', '.join(missing)}",
            "create those principals or fix cluster.admins (EKS refuses access entries for "
            "principals that do not exist)",
        )
    if not ctx.runbook.cluster.admins:
        return warned(
            "no cluster.admins: only the identity that creates the cluster can reach it",
            "name the operators' and CI roles in cluster.admins",
        )
    return passed(f"{len(ctx.runbook.cluster.admins)} admin principal(s) exist")


def _addons(ctx: StepContext) -> Outcome:
    rb = ctx.runbook.cluster
    unavailable = []
    for name in rb.addons:
        found = ctx.aws("eks").describe_addon_versions(addonName=name, kubernetesVersion=rb.version)
        if not found.get("addons"):
            unavailable.append(name)
    if unavailable:
        return failed(
            f"no version of {', '.join(unavailable)} runs on Kubernetes {rb.version}",
            "fix cluster.addons or cluster.version",
        )
    return passed(f"{', '.join(rb.addons)} available for {rb.version}")


def caller_principal(rb: Runbook, caller_arn: str) -> str | None:
    """The IAM ARN IAM can simulate for the caller: the role behind an assumed-role session."""
    parts = caller_arn.split(":", 5)
    if len(parts) < 6:
        return None
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return iam_arn(rb, "role", rest.split("/")[0])
    if kind in ("user", "role"):
        return f"arn:{partition(rb.aws.region)}:iam::{parts[4]}:{kind}/{rest}"
    return None  # root, federated users: nothing to simulate


def _permissions(ctx: StepContext) -> Outcome:
    identity = ctx.clients.aws.caller_identity()
    principal = caller_principal(ctx.runbook, str(identity.get("Arn", "")))
    if principal is None:
        return warned(
            f"cannot simulate permissions for {identity.get('Arn')}",
            "they are checked as the calls are made",
        )
    try:
        results = ctx.aws("iam").simulate_principal_policy(
            PolicySourceArn=principal, ActionNames=list(ACTIONS)
        )["EvaluationResults"]
    except Exception as exc:  # noqa: BLE001 - any failure only means "not checked up front"
        # CloudError from IAM, or a botocore parser error the client does not wrap (an
        # endpoint without the API answers an HTML 500).
        code = getattr(exc, "code", "") or type(exc).__name__
        return warned(
            f"IAM could not simulate the permissions of {principal} ({code})",
            "they are checked as the calls are made; allow iam:SimulatePrincipalPolicy to "
            "check them up front",
        )
    denied = sorted(r["EvalActionName"] for r in results if r.get("EvalDecision") != "allowed")
    if denied:
        return failed(
            f"{principal} may not call {', '.join(denied)}",
            "grant those actions to the identity that runs flexmigrate",
        )
    return passed(f"{principal} may make every call of this phase")


def checks(rb: Runbook) -> Sequence[Check]:
    return [
        Check("network", "the VPC and subnets in two availability zones exist", _network),
        Check("subnet-elb-tags", "subnets carry the load balancer role tags", _elb_tags),
        Check("node-egress", "the subnets reach a NAT gateway or the VPC endpoints", _egress),
        Check("public-endpoint", "the public API endpoint admits known ranges", _public_endpoint),
        Check("kubernetes-version", "EKS offers the Kubernetes version", _version),
        Check("cluster-name", "the cluster name is free or flexmigrate's", _cluster_name),
        Check("admin-principals", "the admin principals exist in IAM", _admins),
        Check("addon-versions", "the add-ons run on the Kubernetes version", _addons),
        Check("iam-permissions", "the caller may make the phase's calls", _permissions),
    ]
