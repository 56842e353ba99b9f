"""How long the EKS target group lets a leaving pod's target drain, from the pod's lifetime.

A pod being deleted is deregistered from the target group while its preStop sleep runs; it
gets SIGTERM after the sleep and is killed at ``terminationGracePeriodSeconds`` whatever the
load balancer still thinks. A deregistration delay longer than that keeps a target draining
after its pod is gone. So the delay defaults to the grace period less the preStop sleep (the
app's own shutdown window), and a runbook that sets more than the grace period is warned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phases.app_deploy.render import Rendered
    from phases.shared.sections import AppSection

_KUBERNETES_GRACE = 30  # the pod spec's default terminationGracePeriodSeconds
_SLEEP = re.compile(r"(?:^|[;&|\s])sleep\s+(\d+)(?:\s|;|$)")


@dataclass(frozen=True)
class PodLifetime:
    grace: int
    prestop_sleep: int
    source: str  # the file that defines the Deployment

    @property
    def drain(self) -> int:
        return max(0, self.grace - self.prestop_sleep)


def pod_lifetime(rendered: Rendered, app: AppSection) -> PodLifetime | None:
    """The app Deployment's grace period and its container's preStop sleep, or None."""
    manifest = rendered.find("Deployment", app.deployment)
    if manifest is None:
        return None
    spec: dict[str, Any] = manifest.obj.get("spec", {}).get("template", {}).get("spec", {}) or {}
    grace = spec.get("terminationGracePeriodSeconds")
    containers = spec.get("containers") or []
    container = next((c for c in containers if c.get("name") == app.container), None)
    prestop = ((container or {}).get("lifecycle") or {}).get("preStop") or {}
    return PodLifetime(
        grace=int(grace) if isinstance(grace, int) else _KUBERNETES_GRACE,
        prestop_sleep=_sleep_seconds(prestop),
        source=manifest.source,
    )


def _sleep_seconds(prestop: dict[str, Any]) -> int:
    """``sleep: {seconds: N}`` (Kubernetes 1.30+) or an exec of ``sleep N``."""
    sleep = prestop.get("sleep")
    if isinstance(sleep, dict) and isinstance(sleep.get("seconds"), int):
        return int(sleep["seconds"])
    command = (prestop.get("exec") or {}).get("command") or []
    found = _SLEEP.search(" ".join(str(part) for part in command))
    return int(found.group(1)) if found else 0


def deregistration_delay(rendered: Rendered, app: AppSection) -> tuple[int, str]:
    """(seconds, where they come from) for the EKS target group."""
    set_by_runbook = app.target_group.deregistration_delay
    if set_by_runbook is not None:
        return int(set_by_runbook), "app.target_group.deregistration_delay"
    life = pod_lifetime(rendered, app)
    if life is None:
        return 300, "the ELB default (no Deployment to read the grace period from)"
    return life.drain, (
        f"terminationGracePeriodSeconds {life.grace} less the preStop sleep "
        f"{life.prestop_sleep} ({life.source})"
    )


def too_long(rendered: Rendered, app: AppSection) -> str | None:
    """Why the runbook's delay outlives the pods, or None."""
    set_by_runbook = app.target_group.deregistration_delay
    life = pod_lifetime(rendered, app)
    if set_by_runbook is None or life is None or set_by_runbook <= life.grace:
        return None
    return (
        f"app.target_group.deregistration_delay is {int(set_by_runbook)}s, longer than the "
        f"pods' terminationGracePeriodSeconds {life.grace}s ({life.source}): targets would "
        "keep draining after their pods are gone"
    )
