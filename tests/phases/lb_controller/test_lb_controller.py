"""Phase 2 on the cluster of phase 1, both ways: the sandbox runbook's manifest set, and the
real helm binary with the sandbox's stand-in chart (``flexmigrate/sandbox/charts``). Each way:
the ServiceAccount is annotated with the IRSA role, whose trust names the cluster's OIDC
provider and exactly the controller's ServiceAccount; the Deployment is Available, the ``alb``
IngressClass and the TargetGroupBinding CRD exist; a second run changes nothing; rollback
removes all of it and leaves phase 1 alone, in one run even when the answers to its AWS deletes
are lost. Without helm on PATH, preflight refuses the helm way."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flexmigrate.ownership import owned
from tests.conftest import REPO, Sandbox, child_env

pytestmark = pytest.mark.timeout(180)

RUNBOOK = "flexdesk-sandbox"
CLUSTER = "flexdesk-cluster"
ROLE = "flexdesk-cluster-aws-load-balancer-controller"
SUBJECT = "system:serviceaccount:kube-system:aws-load-balancer-controller"
CHART = REPO / "flexmigrate" / "sandbox" / "charts" / "aws-load-balancer-controller"
CRDS = ("targetgroupbindings.elbv2.k8s.aws", "ingressclassparams.elbv2.k8s.aws")
# The AWS deletes of the rollback: the role's policy detached, the role, the policy.
LOST_ON_ROLLBACK = ("iam:DetachRolePolicy", "iam:DeleteRole", "iam:DeletePolicy")


@pytest.fixture(scope="module")
def world(sandbox_factory: Callable[..., Any]) -> Iterator[Sandbox]:
    with sandbox_factory() as sandbox:
        foundation = sandbox.cli("run", "cluster-foundation")
        assert foundation.returncode == 0, foundation.stdout + foundation.stderr
        yield sandbox


def _kube(world: Sandbox, *args: str) -> Any:
    result = world.kubectl(*args, "-o", "json")
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    return json.loads(result.stdout)


def _assert_installed(world: Sandbox) -> None:
    iam: Any = world.client("iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert owned(iam.list_role_tags(RoleName=ROLE)["Tags"], RUNBOOK)

    account = _kube(world, "get", "sa", "aws-load-balancer-controller", "-n", "kube-system")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role["Arn"]
    assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flexmigrate"

    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert len(providers) == 1
    provider = providers[0]["Arn"]
    issuer = provider.split(":oidc-provider/", 1)[1]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {f"{issuer}:sub": SUBJECT, f"{issuer}:aud": "sts.amazonaws.com"}
    }

    (attached,) = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    tags = {
        t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=attached["PolicyArn"])["Tags"]
    }
    assert tags["flexmigrate.io/controller-version"] == "v3.2.2"
    policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
    document = iam.get_policy_version(
        PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
    )["PolicyVersion"]["Document"]
    shipped = json.loads((REPO / "runbooks" / "lb-controller" / "iam-policy.json").read_text())
    assert document == shipped["policy"]

    deployment = _kube(world, "get", "deploy", "aws-load-balancer-controller", "-n", "kube-system")
    conditions = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
    assert conditions["Available"] == "True"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == (
        "aws-load-balancer-controller"
    )
    assert (
        f"--cluster-name={CLUSTER}"
        in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert _kube(world, "get", "ingressclass", "alb")["spec"]["controller"] == "ingress.k8s.aws/alb"
    crd = _kube(world, "get", "crd", CRDS[0])
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"


def _assert_removed(world: Sandbox) -> None:
    assert _kube(world, "get", "sa", "aws-load-balancer-controller", "-n", "kube-system") is None
    assert (
        _kube(world, "get", "deploy", "aws-load-balancer-controller", "-n", "kube-system") is None
    )
    assert _kube(world, "get", "ingressclass", "alb") is None
    for crd in CRDS:
        assert _kube(world, "get", "crd", crd) is None
    iam: Any = world.client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert ROLE not in roles
    assert [
        p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == ROLE
    ] == []
    # Phase 1 is untouched.
    eks: Any = world.client("eks")
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["status"] == "ACTIVE"
    assert "flexdesk-cluster-node-role" in roles


def test_manifests_install_verify_and_rollback(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any]
) -> None:
    ran = world.cli("run", "lb-controller")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _assert_installed(world)
    # The manifests carry flexmigrate's labels; the applied set includes the RBAC.
    role = _kube(world, "get", "clusterrole", "aws-load-balancer-controller-role")
    assert role["metadata"]["labels"]["flexmigrate.io/runbook"] == RUNBOOK

    ledger = aws_ledger(world)
    mark = ledger.mark()
    again = world.cli("run", "lb-controller")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no drift" in again.stdout
    assert ledger.mutations_since(mark) == []

    # Every delete the rollback makes is carried out and its answer lost: botocore's retry
    # meets "not found", which is the delete done, and the rollback completes in one run.
    dropped = world.status()["aws_drops_injected"]["after"]  # type: ignore[index]
    world.inject(*(f"aws-lose-answer={op}" for op in LOST_ON_ROLLBACK))
    rolled = world.cli("--yes", "rollback", "lb-controller")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    status: Any = world.status()
    assert status["faults"]["aws_lose_answer"] == []
    assert status["aws_drops_injected"]["after"] - dropped == len(LOST_ON_ROLLBACK)
    _assert_removed(world)
    assert _kube(world, "get", "clusterrole", "aws-load-balancer-controller-role") is None


def _helm(world: Sandbox, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["helm", *args, "--kubeconfig", world.env["KUBECONFIG"]],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env({**world.env, **env}),
        check=False,
    )


def test_helm_install_verify_and_rollback(
    world: Sandbox, runbook_variant: Callable[..., Path], tools_env: dict[str, str]
) -> None:
    runbook = runbook_variant(
        {"lb_controller": {"install": "helm", "chart": {"path": str(CHART)}, "manifests": None}}
    )
    ran = world.cli("run", "lb-controller", runbook=runbook, env=tools_env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _assert_installed(world)
    listed = _helm(world, "list", "-n", "kube-system", "-o", "json", env=tools_env)
    assert listed.returncode == 0, listed.stderr
    (release,) = json.loads(listed.stdout)
    assert (release["name"], release["status"]) == ("aws-load-balancer-controller", "deployed")
    assert release["chart"] == "aws-load-balancer-controller-3.2.2-local"
    values = _helm(
        world, "get", "values", release["name"], "-n", "kube-system", "-o", "json", env=tools_env
    )
    assert json.loads(values.stdout)["serviceAccount"] == {
        "create": False,
        "name": "aws-load-balancer-controller",
    }

    again = world.cli("run", "lb-controller", runbook=runbook, env=tools_env)
    assert again.returncode == 0 and "no drift" in again.stdout, again.stdout + again.stderr

    rolled = world.cli("--yes", "rollback", "lb-controller", runbook=runbook, env=tools_env)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    _assert_removed(world)
    listed = _helm(world, "list", "-n", "kube-system", "-q", env=tools_env)
    assert listed.stdout.strip() == ""


def test_a_new_chart_version_is_upgraded_in_place_and_rolled_back(
    world: Sandbox,
    runbook_variant: Callable[..., Path],
    tools_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The air-gapped way: the team puts the next chart version where the runbook's
    ``chart.path`` points; plan shows the release's chart changing, run upgrades it in place
    (the controller stays installed), rollback --change is helm's rollback to the revision
    before."""
    import shutil

    installed = runbook_variant(
        {"lb_controller": {"install": "helm", "chart": {"path": str(CHART)}, "manifests": None}}
    )
    ran = world.cli("run", "lb-controller", runbook=installed, env=tools_env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    newer = tmp_path / "aws-load-balancer-controller"
    shutil.copytree(CHART, newer)
    meta = (newer / "Chart.yaml").read_text()
    (newer / "Chart.yaml").write_text(meta.replace("version: 3.2.2-local", "version: 3.2.3-local"))
    upgraded = runbook_variant(
        {"lb_controller": {"install": "helm", "chart": {"path": str(newer)}, "manifests": None}}
    )

    def release() -> dict[str, Any]:
        listed = _helm(world, "list", "-n", "kube-system", "-o", "json", env=tools_env)
        assert listed.returncode == 0, listed.stderr
        (found,) = json.loads(listed.stdout)
        return dict(found)

    plan = world.cli("--output", "json", "plan", "lb-controller", runbook=upgraded, env=tools_env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    phase = next(p for p in json.loads(plan.stdout)["phases"] if p["id"] == "phase-2")
    changes = [c for s in phase["steps"] for c in s["changes"] if c["action"] != "no change"]
    assert [(c["action"], c["current"], c["desired"]) for c in changes] == [
        (
            "update",
            "aws-load-balancer-controller-3.2.2-local (revision 1)",
            "aws-load-balancer-controller-3.2.3-local",
        )
    ], plan.stdout
    assert release()["chart"] == "aws-load-balancer-controller-3.2.2-local"

    run = world.cli("run", "lb-controller", runbook=upgraded, env=tools_env)
    assert run.returncode == 0, run.stdout + run.stderr
    found = release()
    assert (found["chart"], found["status"], found["revision"]) == (
        "aws-load-balancer-controller-3.2.3-local",
        "deployed",
        "2",
    )
    _assert_installed(world)

    back = world.cli("rollback", "lb-controller", "--change", runbook=upgraded, env=tools_env)
    assert back.returncode == 0, back.stdout + back.stderr
    found = release()
    assert (found["chart"], found["status"]) == (
        "aws-load-balancer-controller-3.2.2-local",
        "deployed",
    )
    _assert_installed(world)

    rolled = world.cli("--yes", "rollback", "lb-controller", runbook=installed, env=tools_env)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    _assert_removed(world)


def test_helm_way_needs_helm_on_path(
    world: Sandbox, runbook_variant: Callable[..., Path], aws_ledger: Callable[[Sandbox], Any]
) -> None:
    runbook = runbook_variant(
        {"lb_controller": {"install": "helm", "chart": {"path": str(CHART)}, "manifests": None}}
    )
    ledger = aws_ledger(world)
    mark = ledger.mark()
    no_helm = {"PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    refused = world.cli("--output", "json", "run", "lb-controller", runbook=runbook, env=no_helm)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    checks = {c["id"]: c for c in json.loads(refused.stdout)["phases"][0]["preflight"]}
    assert checks["install-source"]["status"] == "fail"
    assert "helm" in checks["install-source"]["detail"]
    assert "https://helm.sh/docs/intro/install/" in checks["install-source"]["fix"]
    assert ledger.mutations_since(mark) == []


def test_manifests_way_is_refused_outside_the_sandbox(
    world: Sandbox, aws_ledger: Callable[[Sandbox], Any]
) -> None:
    """The manifest set carries no webhook serving certificate: on a real cluster the pod
    webhook could not be called and pods would get no readiness gate, so phase 2 refuses it
    there (exit 3, nothing changed) and names the runbook field and the way out."""
    ledger = aws_ledger(world)
    mark = ledger.mark()
    elsewhere = {"FLEXMIGRATE_SANDBOX": ""}
    refused = world.cli("--output", "json", "run", "lb-controller", env=elsewhere)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    checks = {c["id"]: c for c in json.loads(refused.stdout)["phases"][0]["preflight"]}
    assert checks["install-source"]["status"] == "fail"
    assert (
        "lb_controller.install: manifests is for the sandbox only"
        in (checks["install-source"]["detail"])
    )
    assert "lb_controller.install: helm" in checks["install-source"]["fix"]
    assert ledger.mutations_since(mark) == []
