"""What ``flexmigrate init`` reads from the account: the ALB, its listener and rules, the EC2
target group and its health check, the instance, its VPC, subnets and security groups, the
groups that admit it (database, cache), the alarms on the ALB and the target group, and the
account. Every call is a read, made through clients that refuse anything else.

The result is plain data that names each resource the way a runbook must: by its Name tag
or name, never by an ID (IDs do not survive a rehearsal or another account). A resource
without a name comes back as a placeholder that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flexmigrate.commands.init.hints import compose_path, eks_version, secret_candidates
from flexmigrate.errors import CloudError, InvalidInput
from flexmigrate.runbook.placeholders import placeholder

Ref = dict[str, Any] | str
"""A runbook resource reference: ``{tag: {Name: …}}``, ``{name: …}``, or a placeholder."""


@dataclass(frozen=True)
class TargetGroupFacts:
    name: str
    port: int
    protocol: str
    health_path: str
    health_interval: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str
    deregistration_delay: int | None


@dataclass(frozen=True)
class Subnet:
    ref: Ref
    name: str
    zone: str
    cidr: str


@dataclass(frozen=True)
class AdmittingGroup:
    """A security group that admits the instance's group: the database, Redis and the like."""

    ref: Ref
    name: str
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Alarm:
    name: str
    metric: str
    statistic: str
    threshold: float
    period: int
    on_target_group: bool


@dataclass
class Estate:
    """What runs today, as the runbook names it."""

    account_id: str
    region: str
    caller: str
    alb_name: str
    listener_port: int
    listener_protocol: str
    target_group: TargetGroupFacts
    instance_ref: Ref
    instance_name: str
    instance_type: str
    environment: str
    vpc_ref: Ref
    vpc_name: str
    vpc_cidr: str
    subnets: list[Subnet]
    instance_zone: str
    database_groups: list[AdmittingGroup]
    alarms: list[Alarm]
    eks_version: str | None
    compose_path: str | None = None  # where the instance's user data runs Compose from
    secret_candidates: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def project(self) -> str:
        """The estate's short name: the VPC's without ``-vpc``, else the ALB's without
        ``-alb``."""
        for name, suffix in ((self.vpc_name, "-vpc"), (self.alb_name, "-alb")):
            if name and name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        return self.vpc_name or self.alb_name


def _tags(items: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items or [] if "Key" in t}


def _name_ref(tags: dict[str, str], what: str, ident: str) -> Ref:
    name = tags.get("Name")
    if name:
        return {"tag": {"Name": name}}
    return placeholder(
        f"the {what} {ident} has no Name tag; tag it (Name=…) and name it here as "
        "{tag: {Name: …}}, since an ID means nothing in another account or a rehearsal"
    )


def discover(aws: Any, *, alb: str | None = None, instance: str | None = None) -> Estate:
    """Read the estate behind ``alb`` (a name or ARN) or around ``instance`` (an ID or Name
    tag). ``aws`` is an ``AwsClients`` made read-only."""
    elbv2 = aws.client("elbv2")
    ec2 = aws.client("ec2")
    identity = aws.caller_identity()
    notes: list[str] = []
    if alb is not None:
        balancer = _load_balancer(elbv2, alb)
        found_instance: dict[str, Any] | None = None
    else:
        found_instance = _instance(ec2, str(instance))
        balancer = _balancer_of_instance(elbv2, found_instance)
    listener, group = _listener_and_group(elbv2, balancer, notes)
    facts = _target_group_facts(elbv2, group)
    if found_instance is None:
        found_instance = _instance_of_group(elbv2, ec2, group)
    else:
        _check_instance_in_group(elbv2, group, found_instance)
    instance_tags = _tags(found_instance.get("Tags"))
    vpc_id = str(found_instance["VpcId"])
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    vpc_tags = _tags(vpc.get("Tags"))
    group_ids = [g["GroupId"] for g in found_instance.get("SecurityGroups") or []]
    zone = str((found_instance.get("Placement") or {}).get("AvailabilityZone", ""))
    return Estate(
        account_id=str(identity["Account"]),
        region=str(aws.settings.region),
        caller=str(identity.get("Arn", "")),
        alb_name=str(balancer["LoadBalancerName"]),
        listener_port=int(listener["Port"]),
        listener_protocol=str(listener.get("Protocol", "")),
        target_group=facts,
        instance_ref=_name_ref(instance_tags, "instance", str(found_instance["InstanceId"])),
        instance_name=instance_tags.get("Name", str(found_instance["InstanceId"])),
        instance_type=str(found_instance.get("InstanceType", "")),
        environment=instance_tags.get("Environment", "production"),
        vpc_ref=_name_ref(vpc_tags, "VPC", vpc_id),
        vpc_name=vpc_tags.get("Name", ""),
        vpc_cidr=str(vpc.get("CidrBlock", "")),
        subnets=_private_subnets(ec2, vpc_id, notes),
        instance_zone=zone,
        database_groups=_admitting_groups(ec2, group_ids),
        alarms=_alarms(aws.client("cloudwatch"), balancer, group),
        eks_version=eks_version(aws, notes),
        compose_path=compose_path(ec2, str(found_instance["InstanceId"])),
        secret_candidates=secret_candidates(aws, vpc_tags.get("Name", ""), balancer),
        notes=notes,
    )


# -- the load balancer, its listener and the EC2 target group ----------------------------------
def _load_balancer(elbv2: Any, given: str) -> dict[str, Any]:
    kwargs = {"LoadBalancerArns": [given]} if given.startswith("arn:") else {"Names": [given]}
    try:
        found = elbv2.describe_load_balancers(**kwargs)["LoadBalancers"]
    except CloudError as exc:
        if exc.code in ("LoadBalancerNotFound", "ValidationError"):
            raise InvalidInput(
                f"no load balancer {given} in this account and region ({exc.code})",
                hint="check --alb, --region and --profile (`aws elbv2 describe-load-balancers`)",
            ) from None
        raise
    balancer: dict[str, Any] = found[0]
    if balancer.get("Type", "application") != "application":
        raise InvalidInput(
            f"{given} is a {balancer.get('Type')} load balancer; flexmigrate shifts weights on "
            "an Application Load Balancer's listener"
        )
    return balancer


def _listener_and_group(
    elbv2: Any, balancer: dict[str, Any], notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The listener whose default action forwards to an instance target group (HTTPS first),
    and that group."""
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    candidates = []
    for listener in listeners:
        for arn in _forwarded_groups(listener.get("DefaultActions") or []):
            group = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            if group.get("TargetType") == "instance":
                rank = (listener.get("Protocol") != "HTTPS", int(listener["Port"]))
                candidates.append((rank, listener, group))
    if not candidates:
        raise InvalidInput(
            f"no listener of {balancer['LoadBalancerName']} forwards by default to a target "
            "group of instances: flexmigrate weights a listener's default forward between the "
            "EC2 target group and the one it creates",
            hint="name the ALB in front of the instance (--alb), or the instance (--instance)",
        )
    candidates.sort(key=lambda item: item[0])
    _, listener, group = candidates[0]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    others = [
        str(rule.get("Priority"))
        for rule in rules
        if not rule.get("IsDefault")
        and group["TargetGroupArn"] in _forwarded_groups(rule.get("Actions") or [])
    ]
    if others:
        notes.append(
            f"listener rule(s) with priority {', '.join(others)} also forward to "
            f"{group['TargetGroupName']}: list their ARNs in traffic.also_shift so they move "
            "in lockstep (preflight names each one it finds)"
        )
    return listener, group


def _forwarded_groups(actions: list[dict[str, Any]]) -> list[str]:
    arns: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            arns.append(str(action["TargetGroupArn"]))
        for entry in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if entry.get("TargetGroupArn") and str(entry["TargetGroupArn"]) not in arns:
                arns.append(str(entry["TargetGroupArn"]))
    return arns


def _target_group_facts(elbv2: Any, group: dict[str, Any]) -> TargetGroupFacts:
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
    values = {a["Key"]: a.get("Value") for a in attributes.get("Attributes") or []}
    delay = values.get("deregistration_delay.timeout_seconds")
    return TargetGroupFacts(
        name=str(group["TargetGroupName"]),
        port=int(group["Port"]),
        protocol=str(group.get("Protocol", "HTTP")),
        health_path=str(group.get("HealthCheckPath") or "/"),
        health_interval=int(group.get("HealthCheckIntervalSeconds") or 30),
        healthy_threshold=int(group.get("HealthyThresholdCount") or 5),
        unhealthy_threshold=int(group.get("UnhealthyThresholdCount") or 2),
        matcher=str((group.get("Matcher") or {}).get("HttpCode", "200")),
        deregistration_delay=int(delay) if delay not in (None, "") else None,
    )


# -- the instance ---------------------------------------------------------------------------
def _instance(ec2: Any, given: str) -> dict[str, Any]:
    if given.startswith("i-"):
        kwargs: dict[str, Any] = {"InstanceIds": [given]}
    else:
        kwargs = {"Filters": [{"Name": "tag:Name", "Values": [given]}]}
    try:
        reservations = ec2.describe_instances(**kwargs)["Reservations"]
    except CloudError as exc:
        if exc.code.startswith("InvalidInstanceID"):
            reservations = []
        else:
            raise
    found = [
        i
        for r in reservations
        for i in r.get("Instances") or []
        if (i.get("State") or {}).get("Name") not in ("terminated", "shutting-down")
    ]
    if len(found) != 1:
        what = "no instance" if not found else f"{len(found)} instances"
        raise InvalidInput(
            f"{what} match {given} in this account and region",
            hint="give the instance's ID or its unique Name tag (--instance), or the ALB (--alb)",
        )
    return dict(found[0])


def _members(elbv2: Any, group: dict[str, Any]) -> list[str]:
    health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    return [str(d["Target"]["Id"]) for d in health.get("TargetHealthDescriptions") or []]


def _instance_of_group(elbv2: Any, ec2: Any, group: dict[str, Any]) -> dict[str, Any]:
    members = _members(elbv2, group)
    if len(members) != 1:
        raise InvalidInput(
            f"target group {group['TargetGroupName']} has {len(members)} registered instances; "
            "flexmigrate moves one instance's backend",
            hint="name the instance with --instance",
        )
    return _instance(ec2, members[0])


def _check_instance_in_group(elbv2: Any, group: dict[str, Any], instance: dict[str, Any]) -> None:
    if instance["InstanceId"] not in _members(elbv2, group):
        raise InvalidInput(
            f"the instance is not registered in {group['TargetGroupName']}, the group the "
            "load balancer's listener forwards to"
        )


def _balancer_of_instance(elbv2: Any, instance: dict[str, Any]) -> dict[str, Any]:
    for page in elbv2.paginate("describe_target_groups"):
        for group in page.get("TargetGroups") or []:
            if group.get("TargetType") != "instance" or not group.get("LoadBalancerArns"):
                continue
            if instance["InstanceId"] in _members(elbv2, group):
                arn = group["LoadBalancerArns"][0]
                found: dict[str, Any] = elbv2.describe_load_balancers(LoadBalancerArns=[arn])[
                    "LoadBalancers"
                ][0]
                return found
    raise InvalidInput(
        "no load balancer's target group has this instance registered",
        hint="flexmigrate migrates an instance behind an ALB; name the ALB with --alb",
    )


# -- the network ----------------------------------------------------------------------------
def _private_subnets(ec2: Any, vpc_id: str, notes: list[str]) -> list[Subnet]:
    """The VPC's private subnets (no default route to an internet gateway), one per zone."""
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"
    ]
    public_tables = {
        t["RouteTableId"]
        for t in tables
        if any(
            str(r.get("GatewayId", "")).startswith("igw-")
            and r.get("DestinationCidrBlock") == "0.0.0.0/0"
            for r in t.get("Routes") or []
        )
    }
    explicit: dict[str, str] = {}
    main = None
    for table in tables:
        for association in table.get("Associations") or []:
            if association.get("Main"):
                main = table["RouteTableId"]
            elif association.get("SubnetId"):
                explicit[association["SubnetId"]] = table["RouteTableId"]
    by_zone: dict[str, Subnet] = {}
    for subnet in sorted(subnets, key=lambda s: (s["AvailabilityZone"], s.get("CidrBlock", ""))):
        table = explicit.get(subnet["SubnetId"], main)
        if table in public_tables or subnet.get("MapPublicIpOnLaunch"):
            continue
        tags = _tags(subnet.get("Tags"))
        by_zone.setdefault(
            subnet["AvailabilityZone"],
            Subnet(
                ref=_name_ref(tags, "subnet", str(subnet["SubnetId"])),
                name=tags.get("Name", ""),
                zone=str(subnet["AvailabilityZone"]),
                cidr=str(subnet.get("CidrBlock", "")),
            ),
        )
    found = list(by_zone.values())
    if len(found) < 2:
        notes.append(
            f"the VPC has private subnets in {len(found)} zone(s); EKS needs subnets in two "
            "zones at least: add one to cluster.subnets"
        )
    return found


def _admitting_groups(ec2: Any, instance_groups: list[str]) -> list[AdmittingGroup]:
    if not instance_groups:
        return []
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "ip-permission.group-id", "Values": instance_groups}]
    )["SecurityGroups"]
    found = []
    for group in sorted(groups, key=lambda g: str(g.get("GroupName", ""))):
        if group["GroupId"] in instance_groups:
            continue
        ports = sorted(
            {
                int(p["FromPort"])
                for p in group.get("IpPermissions") or []
                if "FromPort" in p
                and any(
                    pair.get("GroupId") in instance_groups
                    for pair in p.get("UserIdGroupPairs") or []
                )
            }
        )
        tags = _tags(group.get("Tags"))
        ref: Ref = (
            {"tag": {"Name": tags["Name"]}} if tags.get("Name") else {"name": group["GroupName"]}
        )
        found.append(
            AdmittingGroup(ref=ref, name=tags.get("Name", group["GroupName"]), ports=tuple(ports))
        )
    return found


# -- alarms ---------------------------------------------------------------------------------
def _alarms(cloudwatch: Any, balancer: dict[str, Any], group: dict[str, Any]) -> list[Alarm]:
    lb_dimension = str(balancer["LoadBalancerArn"]).split(":loadbalancer/", 1)[-1]
    tg_dimension = "targetgroup/" + str(group["TargetGroupArn"]).split(":targetgroup/", 1)[-1]
    found = []
    for page in cloudwatch.paginate("describe_alarms"):
        for alarm in page.get("MetricAlarms") or []:
            dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
            if dimensions.get("LoadBalancer") != lb_dimension:
                continue
            on_group = dimensions.get("TargetGroup") == tg_dimension
            if "TargetGroup" in dimensions and not on_group:
                continue
            found.append(
                Alarm(
                    name=str(alarm["AlarmName"]),
                    metric=str(alarm.get("MetricName", "")),
                    statistic=str(alarm.get("ExtendedStatistic") or alarm.get("Statistic", "")),
                    threshold=float(alarm.get("Threshold", 0.0)),
                    period=int(alarm.get("Period") or 60),
                    on_target_group=on_group,
                )
            )
    return found
