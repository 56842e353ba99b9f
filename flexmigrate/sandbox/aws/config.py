"""How a front is set up: where moto is, how long EKS takes, which faults apply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flexmigrate.sandbox.faults import FaultBoard

# Cluster name -> (HTTPS URL, base64 of the CA PEM) of the Kubernetes API serving it.
KubeEndpoint = Callable[[str], "tuple[str, str] | None"]


@dataclass
class EksTiming:
    """Seconds a resource stays CREATING / DELETING before it is ACTIVE / gone.

    Real EKS takes minutes; the defaults are short enough for a rehearsal yet long enough
    that code which does not wait for ACTIVE fails here as it would in AWS.
    """

    cluster_create: float = 2.0
    cluster_delete: float = 1.0
    nodegroup_create: float = 2.0
    nodegroup_delete: float = 1.0
    nodegroup_update: float = 1.5  # an UpdateNodegroupConfig stays InProgress this long
    addon_create: float = 1.0
    addon_delete: float = 0.5


@dataclass
class FrontConfig:
    moto_url: str
    # moto runs in this process (its ThreadedMotoServer at moto_url): call its WSGI
    # application directly instead of over HTTP (see ``upstream``).
    moto_in_process: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    timing: EksTiming = field(default_factory=EksTiming)
    faults: FaultBoard | None = None
    kube_endpoint: KubeEndpoint | None = None
    # One JSON line per request: {"ts", "service", "operation", "status"}.
    request_log: Path | None = None
    # A newly registered IP target reports `initial` this long, as an ALB does until its
    # first health checks have run.
    target_initial: float = 0.5
    # Upper bound on how long a deregistered target reports `draining`; the target group's
    # deregistration_delay.timeout_seconds applies when it is shorter.
    target_draining: float = 1.0
    # Called with (cluster name, add-on name, version) when an add-on is created, and with
    # version None when it is deleted: EKS applies and removes the add-on's objects.
    addon_hook: Callable[[str, str, str | None], None] | None = None
    # Seed of the random choice of throttled requests; None draws a fresh seed.
    throttle_seed: int | None = None
    # Share of injected faults answered with a 503 "service unavailable" instead of the
    # service's throttling error.
    throttle_unavailable_share: float = 0.2
    # Seed of the random choice of dropped connections (``aws-drop``); None draws a fresh seed.
    drop_seed: int | None = None
    # Share of dropped connections closed after the service carried the call out (the answer
    # is lost) rather than before it saw the call.
    drop_after_share: float = 0.5
