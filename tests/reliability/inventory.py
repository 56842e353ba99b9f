"""The world as a comparable value: what AWS and Kubernetes hold after a migration, read through
boto3 and the official Kubernetes client, with every generated identifier and timestamp
normalized away, so two rehearsals of one runbook in two sandboxes compare equal and any
resource a crash duplicated, orphaned or left half-changed shows up as a difference.

Reliability tests compare inventories, never log lines: ``inventory(env) == reference``.
Generated IDs become names where the world gives them one (a security group's ID becomes its
group name, an instance's its Name tag) and a fixed placeholder otherwise; secret values are
never read into it (a Secret is its key names and a digest of its data)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import boto3
from botocore.config import Config

# Keys whose values are clocks, request bookkeeping or emulator-assigned addresses.
_DROPPED_KEYS = frozenset(
    {
        "ResponseMetadata",
        "createdAt",
        "modifiedAt",
        "CreateDate",
        "UpdateDate",
        "LaunchTime",
        "CreationDate",
        "CreatedTime",
        "AlarmConfigurationUpdatedTimestamp",
        "StateUpdatedTimestamp",
        "StateTransitionedTimestamp",
        "StateValue",  # an alarm's state follows the traffic simulator's clock
        "StateReason",
        "StateReasonData",
        "certificateAuthority",
        "endpoint",
        "platformVersion",
        "health",
        "RoleId",
        "PolicyId",
        "SecurityGroupRuleId",
        "DefaultVersionId",
        "DNSName",
        "CanonicalHostedZoneId",
        "UsageTime",
        "AttachmentCount",
    }
)
_K8S_METADATA_DROPPED = frozenset(
    {
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
        "selfLink",
        "deletionTimestamp",
    }
)
_GENERATED = [
    (
        re.compile(
            r"\b(sgr|eni|snap|vol|lt|igw|rtb|nat|acl|eipalloc|r|sg|i|ami|vpc|subnet)"
            r"-(?:[0-9a-z]{17}|[0-9a-z]{8})\b"
        ),
        r"\1-*",
    ),
    (re.compile(r"(:secret:[^\s\"]+)-[A-Za-z0-9]{6}\b"), r"\1-*"),
    (re.compile(r"/id/[A-Za-z0-9]+"), "/id/*"),
    (re.compile(r"/[0-9a-f]{16}\b"), "/*"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:*"),
]
# Kinds the emulator generates with random names, or that carry only history or readings
# (metrics.k8s.io's PodMetrics and NodeMetrics are the current usage of each pod and node).
_K8S_SKIPPED = frozenset(
    {
        "Event",
        "Pod",
        "ReplicaSet",
        "EndpointSlice",
        "Endpoints",
        "Lease",
        "ControllerRevision",
        "PodMetrics",
        "NodeMetrics",
    }
)
_MANAGED = "app.kubernetes.io/managed-by=flexmigrate"
_SECRET_SOURCE = "flexmigrate.io/secret-source"


def _client(env: Mapping[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def _tags(tags: object) -> dict[str, str]:
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {str(t["Key"]): str(t.get("Value", "")) for t in tags}
    return {}


def _all(pages: Iterable[dict[str, Any]], key: str) -> list[Any]:
    return [item for page in pages for item in page.get(key, [])]


def _aws(env: Mapping[str, str], alias: dict[str, str]) -> dict[str, Any]:
    eks, ec2, elbv2 = _client(env, "eks"), _client(env, "ec2"), _client(env, "elbv2")
    iam, cloudwatch = _client(env, "iam"), _client(env, "cloudwatch")
    world: dict[str, Any] = {}

    # Names for generated IDs, from the world itself.
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        alias[vpc["VpcId"]] = "vpc:" + _tags(vpc.get("Tags")).get("Name", "?")
    for subnet in ec2.describe_subnets()["Subnets"]:
        alias[subnet["SubnetId"]] = "subnet:" + _tags(subnet.get("Tags")).get("Name", "?")
    groups = ec2.describe_security_groups()["SecurityGroups"]
    for group in groups:
        alias[group["GroupId"]] = "sg:" + group["GroupName"]
    images = ec2.describe_images(Owners=["self"])["Images"]
    for image in images:
        alias[image["ImageId"]] = "ami:" + image.get("Name", "?")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    for instance in instances:
        name = _tags(instance.get("Tags")).get("Name", instance.get("InstanceType", "?"))
        alias.setdefault(instance["InstanceId"], "instance:" + name)

    clusters = {}
    for name in eks.list_clusters()["clusters"]:
        cluster = eks.describe_cluster(name=name)["cluster"]
        cluster["nodegroups"] = {
            ng: eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
            for ng in eks.list_nodegroups(clusterName=name)["nodegroups"]
        }
        cluster["addons"] = {
            addon: eks.describe_addon(clusterName=name, addonName=addon)["addon"]
            for addon in eks.list_addons(clusterName=name)["addons"]
        }
        cluster["access_entries"] = sorted(
            eks.list_access_entries(clusterName=name)["accessEntries"]
        )
        clusters[name] = cluster
    world["eks_clusters"] = clusters

    providers = {}
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=entry["Arn"])
        providers[entry["Arn"]] = provider
    world["oidc_providers"] = providers
    roles = {}
    for role in _all(iam.get_paginator("list_roles").paginate(), "Roles"):
        name = role["RoleName"]
        role["attached"] = sorted(
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        )
        role["inline"] = {
            p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        role["Tags"] = _tags(iam.list_role_tags(RoleName=name)["Tags"])
        roles[name] = role
    world["iam_roles"] = roles
    policies = {}
    for policy in _all(iam.get_paginator("list_policies").paginate(Scope="Local"), "Policies"):
        version = iam.get_policy_version(
            PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
        )["PolicyVersion"]
        policy["document"] = version["Document"]
        policy["versions"] = len(iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"])
        policies[policy["PolicyName"]] = policy
    world["iam_policies"] = policies

    world["security_groups"] = {
        g["GroupName"]: {"VpcId": g["VpcId"], "Tags": _tags(g.get("Tags"))} for g in groups
    }
    rules = ec2.describe_security_group_rules()["SecurityGroupRules"]
    world["security_group_rules"] = sorted(
        json.dumps(_normal(rule, alias), sort_keys=True) for rule in rules
    )
    world["instances"] = sorted(
        json.dumps(
            _normal(
                {
                    "id": i["InstanceId"],
                    "state": i["State"]["Name"],
                    "type": i.get("InstanceType"),
                    "image": i.get("ImageId"),
                    "subnet": i.get("SubnetId"),
                    "groups": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])),
                    "tags": _tags(i.get("Tags")),
                },
                alias,
            ),
            sort_keys=True,
        )
        for i in instances
    )
    world["images"] = {
        image.get("Name", "?"): {
            "state": image.get("State"),
            "tags": _tags(image.get("Tags")),
            "source": image.get("Description"),
        }
        for image in images
    }

    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    target_groups = elbv2.describe_target_groups()["TargetGroups"]
    world["load_balancers"] = {lb["LoadBalancerName"]: lb for lb in balancers}
    groups_out = {}
    for group in target_groups:
        arn = group["TargetGroupArn"]
        group["Tags"] = _tags(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
        group["Attributes"] = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        }
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        # ip targets are pod addresses the emulator assigns: their count and states matter
        group["targets"] = sorted(
            f"{alias.get(d['Target']['Id'], 'ip' if group.get('TargetType') == 'ip' else '?')}"
            f":{d['Target'].get('Port')}:{d['TargetHealth']['State']}"
            for d in health
        )
        groups_out[group["TargetGroupName"]] = group
    world["target_groups"] = groups_out
    listeners = {}
    for lb in balancers:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Listeners"
        ]:
            listener["rules"] = [
                r
                for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                if not r.get("IsDefault")
            ]
            listeners[f"{lb['LoadBalancerName']}:{listener['Port']}"] = listener
    world["listeners"] = listeners
    world["alarms"] = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    return world


def _secret_values(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Each Secrets Manager secret's JSON values by ARN: held here only to say which keys of a
    Kubernetes Secret match their source, never put into the inventory."""
    secretsmanager = _client(env, "secretsmanager")
    found: dict[str, dict[str, str]] = {}
    for entry in secretsmanager.list_secrets()["SecretList"]:
        text = secretsmanager.get_secret_value(SecretId=entry["ARN"]).get("SecretString", "")
        try:
            values = json.loads(text)
        except ValueError:
            continue
        if isinstance(values, dict):
            found[entry["ARN"]] = {str(k): str(v) for k, v in values.items()}
    return found


def _kubernetes(kubeconfig: str, sources: Mapping[str, dict[str, str]]) -> dict[str, Any]:
    from kubernetes import client, config, dynamic

    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        discovered = dynamic.DynamicClient(api)
        objects: dict[str, Any] = {}
        seen: set[tuple[str, str]] = set()
        for resource in discovered.resources.search():
            kind = getattr(resource, "kind", "")
            verbs = getattr(resource, "verbs", None) or []
            group_version = getattr(resource, "group_version", "")
            if (
                not kind
                or "list" not in verbs
                or kind.endswith("List")
                or kind in _K8S_SKIPPED
                or "/" in getattr(resource, "name", "")
                or (group_version, kind) in seen
            ):
                continue
            seen.add((group_version, kind))
            found = resource.get(label_selector=_MANAGED).to_dict()
            for item in found.get("items", []):
                meta = item.get("metadata", {})
                key = f"{kind}/{meta.get('namespace') or '-'}/{meta.get('name')}"
                objects[key] = _k8s_object(kind, item, sources)
        # What the emulator's controllers made of them: pods by phase, per managed namespace.
        core = client.CoreV1Api(api)
        pods: dict[str, int] = {}
        for key in objects:
            kind, _, name = key.split("/")
            if kind != "Namespace":
                continue
            for pod in core.list_namespaced_pod(name).items:
                owner = (pod.metadata.labels or {}).get("app", "?")
                ready = all(s.ready for s in (pod.status.container_statuses or []))
                state = f"{name}/{owner}:{pod.status.phase}:{'ready' if ready else 'unready'}"
                pods[state] = pods.get(state, 0) + 1
        return {"objects": objects, "pods": pods}
    finally:
        api.close()


def _k8s_object(
    kind: str, item: dict[str, Any], sources: Mapping[str, dict[str, str]]
) -> dict[str, Any]:
    meta = {k: v for k, v in item.get("metadata", {}).items() if k not in _K8S_METADATA_DROPPED}
    meta.pop("ownerReferences", None)
    out: dict[str, Any] = {"metadata": meta}
    for key in ("spec", "rules", "roleRef", "subjects", "webhooks"):
        if key in item:
            out[key] = item[key]
    if kind == "Secret":
        # which keys hold their source's value, never the values: inventories get printed
        data = item.get("data") or {}
        source = sources.get(str(meta.get("annotations", {}).get(_SECRET_SOURCE)), {})
        out["keys"] = {
            key: "matches its source"
            if base64.b64decode(value or "").decode(errors="replace") == source.get(key)
            else "differs from its source"
            for key, value in data.items()
        }
    if kind == "ConfigMap":
        out["data"] = item.get("data")
    if kind == "Service":
        spec = dict(out.get("spec") or {})
        for generated in ("clusterIP", "clusterIPs"):
            spec.pop(generated, None)
        out["spec"] = spec
    if kind == "Deployment":
        status = item.get("status") or {}
        out["status"] = {
            k: status.get(k) for k in ("replicas", "readyReplicas", "availableReplicas")
        }
    return out


def _normal(value: Any, alias: Mapping[str, str]) -> Any:
    """Drop clocks and bookkeeping; generated IDs become names or placeholders."""
    if isinstance(value, Mapping):
        return {
            _text(str(k), alias): _normal(v, alias)
            for k, v in sorted(value.items(), key=lambda kv: _text(str(kv[0]), alias))
            if k not in _DROPPED_KEYS and not isinstance(v, datetime | date)
        }
    if isinstance(value, list | tuple):
        items = [_normal(v, alias) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, str):
        return _text(value, alias)
    return value


def _text(text: str, alias: Mapping[str, str]) -> str:
    for generated, name in alias.items():
        if generated in text:
            text = text.replace(generated, name)
    for pattern, placeholder in _GENERATED:
        text = pattern.sub(placeholder, text)
    return text


def inventory(env: Mapping[str, str]) -> dict[str, Any]:
    """The world reached through ``env`` (a sandbox's AWS settings and KUBECONFIG), normalized.
    Without a cluster yet, the Kubernetes part is empty."""
    alias: dict[str, str] = {}
    world = _aws(env, alias)
    kube: dict[str, Any] = {"objects": {}, "pods": {}}
    if world["eks_clusters"] and env.get("KUBECONFIG"):
        kube = _kubernetes(env["KUBECONFIG"], _secret_values(env))
    normalized: dict[str, Any] = _normal({"aws": world, "kubernetes": kube}, alias)
    return normalized


def differences(left: Mapping[str, Any], right: Mapping[str, Any], where: str = "") -> list[str]:
    """Paths at which two inventories differ, for a readable assertion message."""
    found: list[str] = []
    for key in sorted(set(left) | set(right)):
        path = f"{where}/{key}"
        if key not in left:
            found.append(f"only in the second: {path}")
        elif key not in right:
            found.append(f"only in the first: {path}")
        elif isinstance(left[key], Mapping) and isinstance(right[key], Mapping):
            found += differences(left[key], right[key], path)
        elif left[key] != right[key]:
            found.append(f"{path}: {str(left[key])[:300]} != {str(right[key])[:300]}")
    return found


def assert_same_world(
    actual: Mapping[str, Any], expected: Mapping[str, Any], what: str = ""
) -> None:
    diff = differences(actual, expected)
    assert not diff, f"{what}: the world differs from the reference:\n" + "\n".join(diff[:40])


Reader = Callable[[Mapping[str, str]], dict[str, Any]]
