"""The controller chart's version once the phase is complete: compared, upgraded, undone.

Only a helm install the phase made is compared, and only against a chart the runbook names
exactly: ``lb_controller.chart.version`` for a repository chart, the ``Chart.yaml`` version of
``chart.path`` for a local one. An unpinned repository chart is whatever was newest when it
was installed, and a newer one in the repository is not a change the runbook asked for.
``helm list`` reports the release's chart as ``NAME-VERSION``; a difference is an in-place
update.

``update`` records the release's revision, then runs the same ``helm upgrade --install`` as
the first install (values, labels, waiting for the resources); ``verify`` then checks the
release is ``deployed``. ``undo_update`` is ``helm rollback`` to the recorded revision
(helm keeps every revision's manifests, so the previous chart need not still be at hand),
waiting for its resources as the upgrade does.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flexmigrate.engine.protocol import Action, Change
from phases.shared.sections import StepContext


def _helm_json(ctx: StepContext, *args: str) -> Any:
    with tempfile.TemporaryDirectory(prefix="flexmigrate-helm-") as tmp:
        kubeconfig = ctx.clients.write_kubeconfig(Path(tmp))
        argv = ["helm", *args, "--kubeconfig", str(kubeconfig), "-o", "json"]
        return json.loads(ctx.tools.run(argv, timeout=120).stdout or "null")


def deployed(ctx: StepContext) -> dict[str, Any] | None:
    """The release as ``helm list`` shows it (``chart``, ``revision``, ``status``), or None."""
    lb = ctx.runbook.lb_controller
    found = _helm_json(ctx, "list", "-n", lb.namespace, "--filter", f"^{lb.release}$")
    for release in found or []:
        if release.get("name") == lb.release:
            return dict(release)
    return None


def wanted_chart(ctx: StepContext) -> str | None:
    """``NAME-VERSION`` of the chart the runbook names exactly, or None (unpinned)."""
    from ruamel.yaml import YAML

    chart = ctx.runbook.lb_controller.chart
    if chart.path:
        meta = YAML(typ="safe", pure=True).load(
            (Path(ctx.runbook.resolve_path(chart.path)) / "Chart.yaml").read_text()
        )
        return f"{meta['name']}-{meta['version']}"
    if chart.version:
        return f"{chart.name}-{str(chart.version).lstrip('v')}"
    return None


def _compared(ctx: StepContext) -> bool:
    return ctx.runbook.lb_controller.install == "helm" and not ctx.outputs.get("adopted")


def diff(ctx: StepContext) -> Sequence[Change]:
    if not _compared(ctx):
        return ()
    wanted = wanted_chart(ctx)
    release = deployed(ctx)
    if wanted is None or release is None:
        return ()
    lb = ctx.runbook.lb_controller
    resource = f"helm release {lb.namespace}/{lb.release} chart"
    live = str(release.get("chart"))
    if live == wanted:
        return [Change(Action.NOOP, resource, live, wanted)]
    return [
        Change(
            Action.UPDATE,
            resource,
            f"{live} (revision {release.get('revision')})",
            wanted,
            note="helm upgrade in place, waiting for the controller's resources; its "
            "TargetGroupBindings and the targets they registered stay",
        )
    ]


def pending(ctx: StepContext) -> bool:
    return any(change.action is Action.UPDATE for change in diff(ctx))


def record_revision(ctx: StepContext) -> None:
    if "previous_revision" in ctx.outputs:
        return
    release = deployed(ctx) or {}
    ctx.record(
        previous_revision=int(release.get("revision") or 0),
        previous_chart=str(release.get("chart") or ""),
    )


def undo_update(ctx: StepContext) -> None:
    from phases.lb_controller.install import helm_major

    lb = ctx.runbook.lb_controller
    revision = int(ctx.outputs.get("previous_revision") or 0)
    release = deployed(ctx)
    if not revision or release is None or release.get("chart") == ctx.outputs.get("previous_chart"):
        return
    wait = ["--wait=watcher"] if helm_major(ctx) >= 4 else ["--wait"]
    with tempfile.TemporaryDirectory(prefix="flexmigrate-helm-") as tmp:
        kubeconfig = ctx.clients.write_kubeconfig(Path(tmp))
        ctx.tools.run(
            [
                *("helm", "rollback", lb.release, str(revision), "--namespace", lb.namespace),
                *("--timeout", f"{int(lb.timeout)}s", *wait, "--kubeconfig", str(kubeconfig)),
            ],
            timeout=lb.timeout + 60,
        )
    previous = ctx.outputs.get("previous_chart")
    ctx.note(f"helm release {lb.release}: back to revision {revision} ({previous})")
