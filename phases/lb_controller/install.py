"""Installing the AWS Load Balancer Controller: the real ``helm upgrade --install`` (the default),
or a directory of rendered manifests applied server-side (the sandbox only; see ``checks``).

- helm: ``upgrade --install`` is itself idempotent; ``--rollback-on-failure`` (helm 4; ``--atomic``
  on helm 3) means a failed install leaves no half release. The release is labelled as
  flexmigrate's, and the chart's CRDs that did not exist before are recorded *before* the
  install, because ``helm uninstall`` leaves CRDs behind and rollback must remove them.
- manifests: each object gets flexmigrate's labels and is server-side applied with field
  manager ``flexmigrate``; rollback renders the same set and deletes what carries the labels.

An installation found that flexmigrate did not make (a release without its labels, or a
controller Deployment without them) is adopted as is: neither changed nor uninstalled.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.kube import KubeConflict
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import MANAGED_BY, MANAGED_BY_KEY, RUNBOOK_KEY, k8s_owned
from phases.lb_controller.kube import (
    CONTROLLER_SELECTOR,
    CRD_API,
    cluster_reachable,
    conflict_failure,
)
from phases.shared.vpc import resolve_vpc

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

PLACEHOLDERS = ("CLUSTER_NAME", "AWS_REGION", "VPC_ID")


def manifest_files(rb: Runbook) -> list[Path]:
    directory = rb.resolve_path(rb.lb_controller.manifests or "")
    if not directory.is_dir():
        raise StepFailed(f"{directory} is not a directory", hint="fix lb_controller.manifests")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def render_manifests(rb: Runbook, values: dict[str, str], *, strict: bool = True) -> list[Any]:
    """The manifest set's objects, in file order, placeholders substituted. ``strict=False``
    (rollback) tolerates missing values: only names matter to find what to delete."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    objects = []
    for path in manifest_files(rb):
        template = string.Template(path.read_text())
        try:
            text = template.substitute(values) if strict else template.safe_substitute(values)
        except (KeyError, ValueError) as exc:
            known = ", ".join(f"${{{name}}}" for name in PLACEHOLDERS)
            raise StepFailed(f"{path}: placeholder {exc} is not one of {known}") from None
        try:
            objects += [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc]
        except YAMLError as exc:
            raise StepFailed(f"{path} is not valid YAML: {exc}") from None
    return objects


def _values(ctx: StepContext) -> dict[str, str]:
    rb = ctx.runbook
    vpc = resolve_vpc(ctx, rb.cluster.vpc)
    if vpc.found is None:
        raise StepFailed(vpc.problem, hint="fix cluster.vpc in the runbook")
    return {
        "CLUSTER_NAME": rb.cluster.name,
        "AWS_REGION": rb.aws.region,
        "VPC_ID": str(vpc.found["VpcId"]),
    }


def _where(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{meta.get('name')}"


def _placed(ctx: StepContext, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with flexmigrate's labels, and the runbook's namespace if it is namespaced and
    names none."""
    obj = json.loads(json.dumps(obj))
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **ctx.labels()}
    info = ctx.kube.resource(obj["apiVersion"], obj["kind"])
    if info is not None and info.namespaced and not meta.get("namespace"):
        meta["namespace"] = ctx.runbook.lb_controller.namespace
    return obj


def _existing_controller(ctx: StepContext) -> dict[str, Any] | None:
    found = ctx.kube.list(
        "apps/v1",
        "Deployment",
        ctx.runbook.lb_controller.namespace,
        label_selector=CONTROLLER_SELECTOR,
    )
    return found[0] if found else None


# -- helm ----------------------------------------------------------------------------------


def helm_major(ctx: StepContext) -> int:
    out = ctx.tools.run(["helm", "version", "--template", "{{.Version}}"], timeout=30).stdout
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        raise StepFailed(f"cannot read the helm version from {out.strip()!r}") from None


def chart_args(rb: Runbook) -> list[str]:
    chart = rb.lb_controller.chart
    if chart.path:
        return [str(rb.resolve_path(chart.path))]
    args = [chart.name]
    if chart.repo:
        args += ["--repo", chart.repo]
    if chart.version:
        args += ["--version", chart.version]
    return args


def helm_values(ctx: StepContext, vpc_id: str) -> dict[str, Any]:
    """The runbook's values, then what flexmigrate must set (which wins): the cluster, region,
    VPC, and the ServiceAccount it made with the IRSA annotation."""
    lb = ctx.runbook.lb_controller
    merged: dict[str, Any] = json.loads(json.dumps(lb.values))
    required = {
        "clusterName": ctx.runbook.cluster.name,
        "region": ctx.runbook.aws.region,
        "vpcId": vpc_id,
        "serviceAccount": {"create": False, "name": lb.service_account},
    }
    for key, value in required.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def release_labels(ctx: StepContext) -> dict[str, str] | None:
    """Labels of the release's newest revision (helm keeps them on its storage Secret), or
    None when there is no release."""
    lb = ctx.runbook.lb_controller
    secrets = ctx.kube.list(
        "v1", "Secret", lb.namespace, label_selector=f"owner=helm,name={lb.release}"
    )
    if not secrets:
        return None
    newest = max(secrets, key=lambda s: int(s["metadata"].get("labels", {}).get("version", 0)))
    return dict(newest["metadata"].get("labels") or {})


def chart_crds(ctx: StepContext) -> list[str]:
    from ruamel.yaml import YAML

    out = ctx.tools.run(["helm", "show", "crds", *chart_args(ctx.runbook)], timeout=120).stdout
    docs = [d for d in YAML(typ="safe", pure=True).load_all(out) if isinstance(d, dict)]
    return sorted(
        str(d["metadata"]["name"]) for d in docs if d.get("kind") == "CustomResourceDefinition"
    )


def _helm(ctx: StepContext, *args: str, timeout: float) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="flexmigrate-helm-") as tmp:
        kubeconfig = ctx.clients.write_kubeconfig(Path(tmp))
        argv = ["helm", *args, "--kubeconfig", str(kubeconfig)]
        if args[0] == "upgrade":
            values = Path(tmp) / "values.json"  # JSON is YAML to helm
            values.write_text(json.dumps(helm_values(ctx, _values(ctx)["VPC_ID"])))
            argv += ["--values", str(values)]
        ctx.tools.run(argv, timeout=timeout + 60)


class ControllerStep(Step):
    id = "controller"
    title = "AWS Load Balancer Controller (helm chart or manifests)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        lb = ctx.runbook.lb_controller
        if lb.install == "helm":
            what = " ".join(chart_args(ctx.runbook))
            resource = f"helm release {lb.namespace}/{lb.release}"
            if not cluster_reachable(ctx):
                return [Change(Action.CREATE, resource, "absent (no cluster yet)", what)]
            found = release_labels(ctx)
            if found is None:
                return [Change(Action.CREATE, resource, "absent", what)]
            if not _owned_release(ctx, found):
                return [Change(Action.ADOPT, resource, "installed by someone else", "used as is")]
            return [Change(Action.UPDATE, resource, f"revision {found.get('version')}", what)]
        reachable = cluster_reachable(ctx)
        changes = []
        for obj in render_manifests(
            ctx.runbook, {**dict.fromkeys(PLACEHOLDERS, "…")}, strict=False
        ):
            meta = obj.get("metadata", {})
            current = None
            if reachable and ctx.kube.resource(obj["apiVersion"], obj["kind"]) is not None:
                current = ctx.kube.get(
                    obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")
                )
            action = Action.CREATE if current is None else Action.UPDATE
            changes.append(
                Change(
                    action,
                    _where(obj),
                    "absent" if current is None else "present",
                    "server-side applied",
                )
            )
        return changes

    def apply(self, ctx: StepContext) -> None:
        if ctx.runbook.lb_controller.install == "helm":
            self._apply_helm(ctx)
        else:
            self._apply_manifests(ctx)

    # helm

    def _apply_helm(self, ctx: StepContext) -> None:
        lb = ctx.runbook.lb_controller
        found = release_labels(ctx)
        if found is not None and not _owned_release(ctx, found):
            ctx.record(adopted=True)
            ctx.note(f"helm release {lb.release} was installed by someone else: used as is")
            return
        missing = [
            name
            for name in chart_crds(ctx)
            if ctx.kube.get(CRD_API, "CustomResourceDefinition", name) is None
        ]
        created = sorted(set(ctx.outputs.get("crds_created") or []) | set(missing))
        ctx.record(crds_created=created, adopted=False)
        wait = (
            ["--rollback-on-failure", "--wait=watcher"]
            if helm_major(ctx) >= 4
            else ["--atomic", "--wait"]
        )
        labels = f"{MANAGED_BY_KEY}={MANAGED_BY},{RUNBOOK_KEY}={ctx.runbook.name}"
        _helm(
            ctx,
            "upgrade",
            "--install",
            lb.release,
            *chart_args(ctx.runbook),
            "--namespace",
            lb.namespace,
            "--timeout",
            f"{int(lb.timeout)}s",
            "--labels",
            labels,
            *wait,
            timeout=lb.timeout,
        )
        ctx.record(release=f"{lb.namespace}/{lb.release}", chart=" ".join(chart_args(ctx.runbook)))

    def _rollback_helm(self, ctx: StepContext) -> None:
        lb = ctx.runbook.lb_controller
        found = release_labels(ctx)
        if found is not None:
            if not _owned_release(ctx, found):
                ctx.ui.info(f"keeping helm release {lb.release}: flexmigrate did not install it")
                return
            _helm(
                ctx,
                "uninstall",
                lb.release,
                "--namespace",
                lb.namespace,
                "--wait",
                "--timeout",
                f"{int(lb.timeout)}s",
                timeout=lb.timeout,
            )
        self._delete_all(
            ctx,
            [
                {"apiVersion": CRD_API, "kind": "CustomResourceDefinition", "metadata": {"name": n}}
                for n in ctx.outputs.get("crds_created") or []
            ],
            owned_only=False,  # recorded as created by this step's install
        )

    # manifests

    def _apply_manifests(self, ctx: StepContext) -> None:
        existing = _existing_controller(ctx)
        if existing is not None and not k8s_owned(
            existing["metadata"].get("labels") or {}, ctx.runbook.name
        ):
            ctx.record(adopted=True)
            ctx.note("a controller Deployment flexmigrate did not make exists: used as is")
            return
        ctx.record(adopted=False)
        applied = []
        for obj in render_manifests(ctx.runbook, _values(ctx)):
            placed = _placed(ctx, obj)
            try:
                ctx.kube.apply(placed)
            except KubeConflict as exc:
                raise conflict_failure(exc, _where(placed)) from None
            if placed["kind"] == "CustomResourceDefinition":
                ctx.kube.forget_discovery()  # its kind is served from now on
            applied.append(_where(placed))
        ctx.record(applied=applied)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        lb = ctx.runbook.lb_controller
        if ctx.outputs.get("adopted"):
            return []
        if lb.install == "helm":
            found = release_labels(ctx)
            if found is None:
                return [f"helm release {lb.namespace}/{lb.release} is missing"]
            if found.get("status") != "deployed":
                return [f"helm release {lb.release} is {found.get('status')}"]
            return []
        missing = []
        for obj in render_manifests(ctx.runbook, _values(ctx)):
            meta = _placed(ctx, obj)["metadata"]
            if (
                ctx.kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
                is None
            ):
                missing.append(f"{_where(obj)} is missing")
        return missing

    # A completed phase: the chart's version in place (``chart_version.py``).
    def diff(self, ctx: StepContext) -> Sequence[Change]:
        from phases.lb_controller import chart_version

        return chart_version.diff(ctx)

    def update(self, ctx: StepContext) -> None:
        from phases.lb_controller import chart_version

        if chart_version.pending(ctx):
            chart_version.record_revision(ctx)
            self._apply_helm(ctx)

    def undo_update(self, ctx: StepContext) -> None:
        from phases.lb_controller import chart_version

        chart_version.undo_update(ctx)

    def rollback(self, ctx: StepContext) -> None:
        if ctx.outputs.get("adopted") or not cluster_reachable(ctx):
            return
        if ctx.runbook.lb_controller.install == "helm":
            self._rollback_helm(ctx)
            return
        objects = render_manifests(ctx.runbook, {}, strict=False)
        self._delete_all(ctx, list(reversed(objects)), owned_only=True)

    def _delete_all(
        self, ctx: StepContext, objects: list[dict[str, Any]], *, owned_only: bool
    ) -> None:
        kube = ctx.kube
        deleted = []
        for obj in objects:
            if kube.resource(obj["apiVersion"], obj["kind"]) is None:
                continue  # its CRD is gone already, and its objects with it
            meta = _placed(ctx, obj)["metadata"]
            found = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if found is None:
                continue
            if owned_only and not k8s_owned(
                found["metadata"].get("labels") or {}, ctx.runbook.name
            ):
                ctx.ui.info(f"keeping {_where(found)}: flexmigrate did not create it")
                continue
            kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            deleted.append((obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")))

        def gone() -> tuple[bool, str]:
            left = []
            for api, kind, name, namespace in deleted:
                try:
                    if kube.get(api, kind, name, namespace) is not None:
                        left.append(f"{kind} {name}")
                except CloudError as exc:
                    if exc.status != 404:  # the kind itself is gone: so is the object
                        raise
            return not left, ("deleting " + ", ".join(left)) if left else "deleted"

        if deleted:
            ctx.wait(
                "controller objects deleted",
                gone,
                timeout=ctx.runbook.lb_controller.timeout,
                interval=ctx.runbook.cluster.waits.poll,
            )


def _owned_release(ctx: StepContext, labels: dict[str, str]) -> bool:
    return labels.get(MANAGED_BY_KEY) == MANAGED_BY and labels.get(RUNBOOK_KEY) == ctx.runbook.name
