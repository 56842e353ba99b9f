"""Can the nodes pull every image of the app's rendered manifests? (Docker Hub, for the
shipped example runbook: no VPC endpoint serves it.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Outcome
from phases.app_deploy.render import render
from phases.shared.egress import check_egress

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def app_images(ctx: StepContext) -> dict[str, str]:
    """Every container image of the rendered workloads, with the object that runs it."""
    images: dict[str, str] = {}
    for manifest in render(ctx).manifests:
        if manifest.kind not in _WORKLOADS:
            continue
        spec = manifest.obj.get("spec", {})
        if manifest.kind == "CronJob":
            spec = spec.get("jobTemplate", {}).get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            if container.get("image"):
                images.setdefault(str(container["image"]), f"{manifest.ref}'s")
    return images


def app_egress(ctx: StepContext) -> Outcome:
    return check_egress(ctx, app_images(ctx), {})
