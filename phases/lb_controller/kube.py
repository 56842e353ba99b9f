"""The controller's Kubernetes side: its ServiceAccount (annotated with the IRSA role) and the
wait until it serves — Deployment Available, the IngressClass and the TargetGroupBinding CRD.

Everything is written by server-side apply with field manager ``flexmigrate`` and labelled
as flexmigrate's; rollback deletes only what carries those labels and was not adopted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.kube import KubeConflict
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from flexmigrate.ownership import k8s_owned
from phases.shared.naming import CONTROLLER, controller_role_name, describe_cluster, iam_arn

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
TGB_CRD = "targetgroupbindings.elbv2.k8s.aws"
CRD_API = "apiextensions.k8s.io/v1"
CONTROLLER_SELECTOR = f"app.kubernetes.io/name={CONTROLLER}"


def cluster_reachable(ctx: StepContext) -> bool:
    """Whether the cluster exists and is ACTIVE, so its API can be asked (a plan before
    phase 1 must not try)."""
    cluster = describe_cluster(ctx)
    return cluster is not None and cluster.get("status") == "ACTIVE"


def labels(ctx: StepContext) -> dict[str, str]:
    return {**ctx.labels(), "app.kubernetes.io/name": CONTROLLER}


def conflict_failure(exc: KubeConflict, what: str) -> StepFailed:
    managers = ", ".join(exc.managers) or "another field manager"
    return StepFailed(
        f"{what} is managed by {managers}; flexmigrate will not take its fields over",
        hint="remove that installation (or its conflicting fields), then `flexmigrate resume`",
    )


def ingress_class(ctx: StepContext) -> str:
    return str(ctx.runbook.lb_controller.values.get("ingressClass") or "alb")


class ServiceAccountStep(Step):
    id = "service-account"
    title = "ServiceAccount of the controller, annotated with its IRSA role"
    reversible = True

    def _names(self, ctx: StepContext) -> tuple[str, str, str]:
        lb = ctx.runbook.lb_controller
        role = iam_arn(ctx.runbook, "role", controller_role_name(ctx.runbook))
        return lb.namespace, lb.service_account, role

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        namespace, name, role = self._names(ctx)
        resource = f"ServiceAccount {namespace}/{name}"
        if not cluster_reachable(ctx):
            return [Change(Action.CREATE, resource, "absent (no cluster yet)", f"{role}")]
        found = ctx.kube.get("v1", "ServiceAccount", name, namespace)
        current = ((found or {}).get("metadata", {}).get("annotations") or {}).get(ROLE_ANNOTATION)
        if found is None:
            return [Change(Action.CREATE, resource, "absent", role)]
        action = Action.NOOP if current == role else Action.UPDATE
        return [Change(action, resource, str(current or "no role annotation"), role)]

    def apply(self, ctx: StepContext) -> None:
        namespace, name, role = self._names(ctx)
        kube = ctx.kube
        if kube.get("v1", "Namespace", namespace) is None:
            ctx.record(namespace_created=namespace)
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": ctx.labels()},
                }
            )
        found = kube.get("v1", "ServiceAccount", name, namespace)
        adopted = bool(ctx.outputs.get("service_account_adopted")) or (
            found is not None
            and not k8s_owned(found["metadata"].get("labels") or {}, ctx.runbook.name)
        )
        # Recorded before the apply, so a crash cannot leave an adopted account looking ours.
        ctx.record(service_account_adopted=adopted)
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "annotations": {
                ROLE_ANNOTATION: role,
                "eks.amazonaws.com/sts-regional-endpoints": "true",
            },
        }
        if not adopted:
            metadata["labels"] = labels(ctx)
        try:
            kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
        except KubeConflict as exc:
            raise conflict_failure(exc, f"ServiceAccount {namespace}/{name}") from None
        ctx.record(service_account=f"{namespace}/{name}", role_arn=role)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        namespace, name, role = self._names(ctx)
        found = ctx.kube.get("v1", "ServiceAccount", name, namespace)
        if found is None:
            return [f"ServiceAccount {namespace}/{name} is missing"]
        current = (found["metadata"].get("annotations") or {}).get(ROLE_ANNOTATION)
        if current != role:
            return [f"ServiceAccount {namespace}/{name} is annotated {current!r}, not {role}"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        namespace, name, _ = self._names(ctx)
        if not cluster_reachable(ctx):
            return
        kube = ctx.kube
        found = kube.get("v1", "ServiceAccount", name, namespace)
        mine = found is not None and k8s_owned(
            found["metadata"].get("labels") or {}, ctx.runbook.name
        )
        if mine and not ctx.outputs.get("service_account_adopted"):
            kube.delete("v1", "ServiceAccount", name, namespace)
        created = ctx.outputs.get("namespace_created")
        if created == namespace:
            ns = kube.get("v1", "Namespace", namespace)
            if ns is not None and k8s_owned(ns["metadata"].get("labels") or {}, ctx.runbook.name):
                kube.delete("v1", "Namespace", namespace)


def _condition(obj: dict[str, Any] | None, kind: str) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def readiness(ctx: StepContext) -> tuple[list[str], str]:
    """(what is not there yet, the controller Deployment's name)."""
    kube = ctx.kube
    namespace = ctx.runbook.lb_controller.namespace
    waiting = []
    deployments = kube.list("apps/v1", "Deployment", namespace, label_selector=CONTROLLER_SELECTOR)
    name = str(deployments[0]["metadata"]["name"]) if deployments else ""
    if not deployments:
        waiting.append(f"no Deployment labelled {CONTROLLER_SELECTOR} in {namespace}")
    elif not _condition(deployments[0], "Available"):
        status = deployments[0].get("status") or {}
        waiting.append(
            f"Deployment {name} not Available ({status.get('availableReplicas', 0)}/"
            f"{deployments[0].get('spec', {}).get('replicas', '?')} available)"
        )
    if kube.get("networking.k8s.io/v1", "IngressClass", ingress_class(ctx)) is None:
        waiting.append(f"no IngressClass {ingress_class(ctx)}")
    if not _condition(kube.get(CRD_API, "CustomResourceDefinition", TGB_CRD), "Established"):
        waiting.append(f"CRD {TGB_CRD} not established")
    return waiting, name


class ReadyStep(Step):
    id = "controller-ready"
    title = "wait until the controller serves (Deployment, IngressClass, CRD)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return [
            Change(
                Action.WAIT,
                "AWS Load Balancer Controller",
                "",
                f"Deployment Available, IngressClass {ingress_class(ctx)}, CRD {TGB_CRD}",
                reversible=True,
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        found: dict[str, str] = {}

        def probe() -> tuple[bool, str]:
            waiting, name = readiness(ctx)
            found["deployment"] = name
            return not waiting, "; ".join(waiting) or "serving"

        ctx.wait(
            "the load balancer controller",
            probe,
            timeout=ctx.runbook.lb_controller.timeout,
            interval=ctx.runbook.cluster.waits.poll,
        )
        ctx.record(
            deployment=f"{ctx.runbook.lb_controller.namespace}/{found['deployment']}",
            ingress_class=ingress_class(ctx),
            crd=TGB_CRD,
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        waiting, _ = readiness(ctx)
        return waiting

    def rollback(self, ctx: StepContext) -> None:
        return None  # it only waited
