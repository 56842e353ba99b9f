"""The data files the phases ship, proven with the real `kubectl kustomize` and `helm`.

Phases 2 and 3 read these files at run time; a mistake in them (a deprecated kustomize
field, a policy that would fight the HPA, a missing permission) only shows up on a real
cluster. These tests render them with the binaries a user runs and check what an operator
relies on, so the phases can trust the files without re-checking them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "runbooks" / "flexdesk" / "k8s"
LB_CONTROLLER = REPO / "runbooks" / "lb-controller"
SANDBOX_SET = LB_CONTROLLER / "sandbox"
CHART = REPO / "flexmigrate" / "sandbox" / "charts" / "aws-load-balancer-controller"

SECRET_KEYS = {"DB_CONNECTION_STRING", "JWT_SECRET", "REDIS_PASSWORD"}
# flexmigrate fills this ipBlock with the cluster VPC's CIDR blocks read from AWS.
VPC_CIDR = "${VPC_CIDR}"
# IAM's limit for a managed policy document, counted without whitespace.
IAM_POLICY_MAX_CHARS = 6144

Doc = dict[str, Any]


def _tool(name: str) -> str:
    """Finds a binary in this interpreter's venv first: the `dev` extra ships kubectl and
    the venv holds helm, so the tests never depend on what else is on the machine."""
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    assert found, f"{name} not found in {venv_bin} or on PATH"
    return found


def _load_all(text: str) -> list[Doc]:
    yaml = YAML(typ="safe", pure=True)
    return [doc for doc in yaml.load_all(text) if doc is not None]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, check=False)


def _kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    return _run([_tool("kubectl"), "kustomize", str(directory)])


def _by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def _one(docs: list[Doc], kind: str) -> Doc:
    found = _by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Doc = containers[0]
    return container


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    """Each overlay rendered once for the module; the warning check is its own test."""
    out: dict[str, list[Doc]] = {}
    for env in ("dev", "staging", "production"):
        result = _kustomize(K8S / "overlays" / env)
        assert result.returncode == 0, result.stderr
        out[env] = _load_all(result.stdout)
    return out


@pytest.fixture(scope="module")
def production(rendered: dict[str, list[Doc]]) -> list[Doc]:
    return rendered["production"]


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Keeps helm's cache, config and data out of the user's home directory."""
    home = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    env["KUBECONFIG"] = str(home / "no-cluster")
    return env


# --- the Flexdesk app manifests -------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_overlay_renders_without_warnings(env: str) -> None:
    result = _kustomize(K8S / "overlays" / env)
    assert result.returncode == 0, result.stderr
    # kustomize prints deprecations (commonLabels, patchesStrategicMerge, ...) on stderr.
    assert result.stderr == ""
    assert _load_all(result.stdout)


def test_production_renders_exactly_the_deployed_set(production: list[Doc]) -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in production)
    assert kinds == sorted(
        [
            ("Namespace", "flexdesk"),
            ("ConfigMap", "flexdesk-config"),
            ("ServiceAccount", "flexdesk-backend"),
            ("Deployment", "flexdesk-backend"),
            ("Service", "flexdesk-backend-service"),
            ("HorizontalPodAutoscaler", "flexdesk-hpa"),
            ("PodDisruptionBudget", "flexdesk-pdb"),
            ("NetworkPolicy", "flexdesk-netpol"),
        ]
    )
    # The Secret is built from Secrets Manager at deploy time; the Ingress waits for
    # after the migration.
    assert not _by_kind(production, "Secret")
    assert not _by_kind(production, "Ingress")
    for doc in production:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "flexdesk", doc["kind"]


def test_namespace_configmap_and_serviceaccount(production: list[Doc]) -> None:
    assert _one(production, "Namespace")["metadata"]["labels"]["name"] == "flexdesk"
    assert _one(production, "ConfigMap")["data"] == {
        "NODE_ENV": "production",
        "PORT": "8000",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
    }
    assert _one(production, "ServiceAccount")["automountServiceAccountToken"] is False


def test_deployment_leaves_replicas_to_the_hpa(production: list[Doc]) -> None:
    deployment = _one(production, "Deployment")
    assert "replicas" not in deployment["spec"]
    hpa = _one(production, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }


def test_deployment_probes_resources_and_image(production: list[Doc]) -> None:
    deployment = _one(production, "Deployment")
    container = _container(deployment)
    assert container["name"] == "flexdesk-backend"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]

    probes = {
        kind: (
            container[kind]["httpGet"]["path"],
            container[kind]["httpGet"]["port"],
            container[kind]["initialDelaySeconds"],
            container[kind]["periodSeconds"],
        )
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes == {
        "livenessProbe": ("/api/v2/health", 8000, 30, 10),
        "readinessProbe": ("/api/v2/ready", 8000, 5, 5),
        "startupProbe": ("/api/v2/startup", 8000, 10, 5),
    }
    assert container["startupProbe"]["failureThreshold"] == 30
    assert container["resources"] == {
        "requests": {"memory": "512Mi", "cpu": "250m"},
        "limits": {"memory": "1Gi", "cpu": "500m"},
    }

    repository, _, tag = container["image"].rpartition(":")
    assert repository == "volttechafrica/flexdeskbackend"
    assert tag
    assert tag != "latest"


def test_deployment_reads_exactly_the_three_secret_keys(production: list[Doc]) -> None:
    container = _container(_one(production, "Deployment"))
    refs = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert {ref["name"] for ref in refs.values()} == {"flexdesk-secrets"}
    assert {ref["key"] for ref in refs.values()} == SECRET_KEYS
    # Reading the whole Secret would hide which keys the app needs.
    assert container["envFrom"] == [{"configMapRef": {"name": "flexdesk-config"}}]


def test_deployment_security_context(production: list[Doc]) -> None:
    deployment = _one(production, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "flexdesk-backend"

    context = _container(deployment)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    # A read-only root needs somewhere writable for temporary files.
    mounts = {m["mountPath"]: m["name"] for m in _container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_deployment_rolls_out_without_downtime(production: list[Doc]) -> None:
    spec = _one(production, "Deployment")["spec"]
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    pod = spec["template"]["spec"]
    zones = [
        c
        for c in pod["topologySpreadConstraints"]
        if c["topologyKey"] == "topology.kubernetes.io/zone"
    ]
    assert zones
    assert zones[0]["labelSelector"] == {"matchLabels": spec["selector"]["matchLabels"]}
    # The pod keeps serving while the ALB deregisters it, and is not killed mid-sleep.
    sleep = _container(_one(production, "Deployment"))["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < sleep < pod["terminationGracePeriodSeconds"]


def test_service_reaches_the_pods(production: list[Doc]) -> None:
    service = _one(production, "Service")
    deployment = _one(production, "Deployment")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_scaling_and_disruption_budget(production: list[Doc]) -> None:
    hpa = _one(production, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    pdb = _one(production, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 2


def test_network_policy_admits_the_load_balancer_and_dns(production: list[Doc]) -> None:
    policy = _one(production, "NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["podSelector"] == {"matchLabels": {"app": "flexdesk-backend"}}

    ip_blocks = [
        (peer["ipBlock"]["cidr"], [p["port"] for p in rule["ports"]])
        for rule in policy["ingress"]
        for peer in rule["from"]
        if "ipBlock" in peer
    ]
    assert (VPC_CIDR, [8000]) in ip_blocks
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]
        for rule in policy["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    ]
    assert {"name": "flexdesk"} in namespaces

    dns = [rule for rule in policy["egress"] if any(p["port"] == 53 for p in rule["ports"])]
    assert len(dns) == 1
    assert {p["protocol"] for p in dns[0]["ports"]} == {"UDP", "TCP"}
    (peer,) = dns[0]["to"]
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    }
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {5432, 6379, 443, 53} <= egress_ports


@pytest.mark.parametrize(
    ("env", "min_replicas", "max_replicas", "min_available"),
    [("production", 3, 10, 2), ("staging", 2, 4, 1), ("dev", 1, 2, 0)],
)
def test_overlays_scale_per_environment(
    rendered: dict[str, list[Doc]],
    env: str,
    min_replicas: int,
    max_replicas: int,
    min_available: int,
) -> None:
    docs = rendered[env]
    hpa = _one(docs, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (min_replicas, max_replicas)
    assert _one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == min_available
    # A budget at or above the minimum would block every node drain.
    assert min_available < min_replicas

    deployment = _one(docs, "Deployment")
    assert "replicas" not in deployment["spec"]
    assert not _by_kind(docs, "Secret")
    assert not _by_kind(docs, "Ingress")
    assert _container(deployment)["image"].rpartition(":")[2] not in ("", "latest")

    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["environment"] == env, doc["kind"]
        assert labels["app.kubernetes.io/part-of"] == "flexdesk", doc["kind"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["environment"] == env
    # Selectors are immutable on a Deployment: environment labels stay out of them.
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "flexdesk-backend"}}


def test_dev_requests_less_than_production(rendered: dict[str, list[Doc]]) -> None:
    dev = _container(_one(rendered["dev"], "Deployment"))["resources"]
    staging = _container(_one(rendered["staging"], "Deployment"))["resources"]
    production = _container(_one(rendered["production"], "Deployment"))["resources"]
    assert dev["requests"] == {"memory": "256Mi", "cpu": "100m"}
    assert dev["limits"] == {"memory": "512Mi", "cpu": "250m"}
    assert staging == production


def test_ingress_kept_for_later_but_not_deployed() -> None:
    base = _load_all((K8S / "base" / "kustomization.yaml").read_text())[0]
    assert "ingress.yaml" not in base["resources"]
    assert "secret.yaml" not in base["resources"]
    assert not (K8S / "base" / "secret.yaml").exists()

    (ingress,) = _load_all((K8S / "base" / "ingress.yaml").read_text())
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert "kubernetes.io/ingress.class" not in ingress["metadata"]["annotations"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "flexdesk.sch.ng"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "flexdesk-backend-service", "port": {"number": 80}}


def test_monitoring_renders_a_service_monitor(production: list[Doc]) -> None:
    result = _kustomize(K8S / "monitoring")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    (monitor,) = _load_all(result.stdout)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"]["namespace"] == "flexdesk"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/api/v2/metrics", "interval": "30s"}
    ]
    # It must select the Service, by its labels, and name one of its ports.
    service = _one(production, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert "http" in {p["name"] for p in service["spec"]["ports"]}


# --- the load balancer controller -----------------------------------------------------


def _policy_file() -> Doc:
    data: Doc = json.loads((LB_CONTROLLER / "iam-policy.json").read_text())
    return data


def test_iam_policy_is_versioned_and_grants_what_the_migration_uses() -> None:
    data = _policy_file()
    assert set(data) == {"controllerVersion", "source", "policy"}
    assert re.fullmatch(r"v\d+\.\d+\.\d+", data["controllerVersion"])
    assert data["source"].startswith("https://")
    assert data["controllerVersion"] in data["source"]

    policy = data["policy"]
    assert policy["Version"] == "2012-10-17"
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"]
        granted = statement["Action"]
        actions.update([granted] if isinstance(granted, str) else granted)
    assert {
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:CreateTargetGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeSecurityGroups",
        "iam:CreateServiceLinkedRole",
    } <= actions
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    # CreatePolicy rejects documents over the limit; IAM does not count whitespace.
    assert len(json.dumps(policy, separators=(",", ":"))) <= IAM_POLICY_MAX_CHARS


def _sandbox_docs() -> list[Doc]:
    docs: list[Doc] = []
    for path in sorted(SANDBOX_SET.glob("*.yaml")):
        docs.extend(_load_all(path.read_text()))
    return docs


def _crd(docs: list[Doc], name: str) -> Doc:
    (crd,) = [
        d for d in _by_kind(docs, "CustomResourceDefinition") if d["metadata"]["name"] == name
    ]
    return crd


def _check_crds(docs: list[Doc]) -> None:
    """The CRD shapes both the sandbox set and the test chart must have."""
    tgb = _crd(docs, "targetgroupbindings.elbv2.k8s.aws")
    assert tgb["apiVersion"] == "apiextensions.k8s.io/v1"
    assert tgb["spec"]["group"] == "elbv2.k8s.aws"
    assert tgb["spec"]["scope"] == "Namespaced"
    assert tgb["spec"]["names"]["kind"] == "TargetGroupBinding"
    (version,) = [v for v in tgb["spec"]["versions"] if v["storage"]]
    assert version["name"] == "v1beta1"
    assert version["served"] is True
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "ARN", "AGE"]

    schema = version["schema"]["openAPIV3Schema"]["properties"]
    spec = schema["spec"]
    assert spec["required"] == ["serviceRef"]
    service_ref = spec["properties"]["serviceRef"]
    assert service_ref["required"] == ["name", "port"]
    assert service_ref["properties"]["port"]["x-kubernetes-int-or-string"] is True
    assert {"targetGroupARN", "targetGroupName", "nodeSelector", "ipAddressType"} <= set(
        spec["properties"]
    )
    assert spec["properties"]["targetType"]["enum"] == ["instance", "ip"]
    rule = spec["properties"]["networking"]["properties"]["ingress"]["items"]
    peer = rule["properties"]["from"]["items"]["properties"]
    assert peer["ipBlock"]["required"] == ["cidr"]
    assert peer["securityGroup"]["required"] == ["groupID"]
    assert "ports" in rule["properties"]
    assert schema["status"]["properties"]["observedGeneration"]["type"] == "integer"

    params = _crd(docs, "ingressclassparams.elbv2.k8s.aws")
    assert params["spec"]["scope"] == "Cluster"
    assert [v["name"] for v in params["spec"]["versions"]] == ["v1beta1"]


def test_sandbox_manifest_set_installs_the_controller() -> None:
    docs = _sandbox_docs()
    _check_crds(docs)

    (ingress_class,) = _by_kind(docs, "IngressClass")
    assert ingress_class["metadata"]["name"] == "alb"
    assert ingress_class["spec"]["controller"] == "ingress.k8s.aws/alb"
    # flexmigrate creates the ServiceAccount itself, annotated with the IRSA role.
    assert not _by_kind(docs, "ServiceAccount")
    # The pod webhook that injects the target-health readiness gate, for labelled namespaces
    # only and never for the controller's own pods; none of the chart's validating webhooks.
    (webhook,) = _one(docs, "MutatingWebhookConfiguration")["webhooks"]
    assert webhook["name"] == "mpod.elbv2.k8s.aws"
    assert webhook["clientConfig"]["service"]["path"] == "/mutate-v1-pod"
    assert webhook["namespaceSelector"]["matchExpressions"] == [
        {
            "key": "elbv2.k8s.aws/pod-readiness-gate-inject",
            "operator": "In",
            "values": ["enabled"],
        }
    ]
    assert webhook["rules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ]
    assert not _by_kind(docs, "ValidatingWebhookConfiguration")
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert _by_kind(docs, kind), kind
    for binding in _by_kind(docs, "ClusterRoleBinding") + _by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "aws-load-balancer-controller",
                "namespace": "kube-system",
            }
        ]

    deployment = _one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "aws-load-balancer-controller"
    assert deployment["metadata"]["namespace"] == "kube-system"
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aws-load-balancer-controller"
    container = _container(deployment)
    version = _policy_file()["controllerVersion"]
    assert container["image"] == f"public.ecr.aws/eks/aws-load-balancer-controller:{version}"
    assert container["args"] == [
        "--cluster-name=${CLUSTER_NAME}",
        "--ingress-class=alb",
        "--aws-region=${AWS_REGION}",
        "--aws-vpc-id=${VPC_ID}",
    ]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == 61779
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_sandbox_placeholders_substitute_cleanly() -> None:
    values = {"CLUSTER_NAME": "flexdesk-cluster", "AWS_REGION": "af-south-1", "VPC_ID": "vpc-1"}
    docs: list[Doc] = []
    for path in sorted(SANDBOX_SET.glob("*.yaml")):
        text = string.Template(path.read_text()).substitute(values)
        assert "$" not in text, path.name
        docs.extend(_load_all(text))
    assert _container(_one(docs, "Deployment"))["args"] == [
        "--cluster-name=flexdesk-cluster",
        "--ingress-class=alb",
        "--aws-region=af-south-1",
        "--aws-vpc-id=vpc-1",
    ]


def test_chart_crds_match_the_sandbox_set() -> None:
    chart_crds = _load_all((CHART / "crds" / "crds.yaml").read_text())
    assert chart_crds == _by_kind(_sandbox_docs(), "CustomResourceDefinition")


def test_chart_lints(helm_env: dict[str, str]) -> None:
    result = _run([_tool("helm"), "lint", "--strict", str(CHART)], env=helm_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def _helm_template(helm_env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            _tool("helm"),
            "template",
            "aws-load-balancer-controller",
            str(CHART),
            "--namespace",
            "kube-system",
            *extra,
        ],
        env=helm_env,
    )


def test_chart_renders_the_values_flexmigrate_sets(helm_env: dict[str, str]) -> None:
    result = _helm_template(
        helm_env,
        "--include-crds",
        "--set",
        "clusterName=x,region=af-south-1,vpcId=vpc-1,"
        "serviceAccount.create=false,serviceAccount.name=aws-load-balancer-controller",
    )
    assert result.returncode == 0, result.stderr
    docs = _load_all(result.stdout)
    _check_crds(docs)

    deployment = _one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "aws-load-balancer-controller"
    assert deployment["metadata"]["namespace"] == "kube-system"
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aws-load-balancer-controller"
    container = _container(deployment)
    assert container["args"] == [
        "--cluster-name=x",
        "--ingress-class=alb",
        "--aws-region=af-south-1",
        "--aws-vpc-id=vpc-1",
    ]
    version = _policy_file()["controllerVersion"]
    assert container["image"].endswith(f":{version}")

    assert not _by_kind(docs, "ServiceAccount")
    (ingress_class,) = _by_kind(docs, "IngressClass")
    assert ingress_class["metadata"]["name"] == "alb"
    assert ingress_class["spec"]["controller"] == "ingress.k8s.aws/alb"
    subjects = [s for b in _by_kind(docs, "ClusterRoleBinding") for s in b["subjects"]]
    assert subjects == [
        {
            "kind": "ServiceAccount",
            "name": "aws-load-balancer-controller",
            "namespace": "kube-system",
        }
    ]


def test_chart_honours_replicas_image_and_ingress_class_values(helm_env: dict[str, str]) -> None:
    result = _helm_template(
        helm_env,
        "--set",
        "clusterName=x,replicaCount=1,image.repository=registry.local/lbc,image.tag=v9.9.9,"
        "ingressClass=alb-internal,createIngressClassResource=false,serviceAccount.create=true",
    )
    assert result.returncode == 0, result.stderr
    docs = _load_all(result.stdout)
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert _container(deployment)["image"] == "registry.local/lbc:v9.9.9"
    assert "--ingress-class=alb-internal" in _container(deployment)["args"]
    assert not _by_kind(docs, "IngressClass")
    assert _one(docs, "ServiceAccount")["metadata"]["name"] == "aws-load-balancer-controller"


def test_chart_refuses_to_render_without_a_cluster_name(helm_env: dict[str, str]) -> None:
    result = _helm_template(helm_env)
    assert result.returncode != 0
    assert "clusterName is required" in result.stderr
